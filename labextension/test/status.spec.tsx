import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { ActivityModel } from '../src/model';
import { ActivityStatusView } from '../src/statusview';
import { work } from './activities';

function render(model: ActivityModel): string {
  return renderToStaticMarkup(<ActivityStatusView activity={model} />);
}

describe('the status bar item', () => {
  it('shows nothing while nothing runs', () => {
    expect(render(new ActivityModel())).toBe('');
  });

  it("shows another process's build with its step and a progress bar, and goes when it ends", () => {
    const model = new ActivityModel();
    model.applyMessage({ type: 'activity', activity: [work({ step: 3, steps: 5, where: 'tutorial.ipynb' })] });
    const html = render(model);
    expect(html).toContain('>Building web:v1 (step 3/5) · tutorial.ipynb</span>');
    expect(html).toContain('<progress max="100" value="40"></progress>');
    model.applyMessage({ type: 'activity', activity: [] });
    expect(render(model)).toBe('');
  });

  it('shows a transfer in bytes and lists every piece of work in its tooltip', () => {
    const model = new ActivityModel();
    model.applyMessage({
      type: 'activity',
      activity: [
        work({ kind: 'push', title: 'ouruser/sinatra', done_bytes: 1_500_000, total_bytes: 6_000_000 }),
        work({ id: '43-1', step: 1, steps: 2, where: 'a kernel' })
      ]
    });
    const html = render(model);
    expect(html).toContain('>Pushing ouruser/sinatra (1.5 MB / 6 MB) · nbdocker CLI (+1 more)</span>');
    expect(html).toContain(
      'title="Pushing ouruser/sinatra (1.5 MB / 6 MB) · nbdocker CLI\nBuilding web:v1 (step 1/2) · a kernel"'
    );
    // 25% of the push, 0% of the build (its first step is running).
    expect(html).toContain('value="13"');
  });

  it('shows no bar when no figure is known yet', () => {
    const model = new ActivityModel();
    model.applyMessage({ type: 'activity', activity: [work({ kind: 'import', title: 'rootfs.tar' })] });
    const html = render(model);
    expect(html).toContain('>Importing rootfs.tar · nbdocker CLI</span>');
    expect(html).not.toContain('<progress');
  });
});
