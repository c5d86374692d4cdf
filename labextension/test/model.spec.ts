import { describe, expect, it } from 'vitest';

import {
  activityFraction,
  ActivityModel,
  describeActivity,
  describeTask,
  humanSize,
  ITask,
  kernelWorkOf,
  taskFraction
} from '../src/model';
import { work } from './activities';

function task(over: Partial<ITask>): ITask {
  return {
    id: 'build-1',
    kind: 'build',
    title: 'web:v1',
    status: 'running',
    message: '',
    result: '',
    step: 0,
    steps: 0,
    instruction: '',
    done_bytes: 0,
    total_bytes: 0,
    started: 1,
    finished: null,
    ...over
  };
}

describe('kernel work a cell starts', () => {
  it.each([
    ['%%dockerfile -t x .\nFROM busybox', 'build'],
    ['%%container c1\necho', 'run'],
    ['%pull busybox', 'pull'],
    ['%docker push ouruser/sinatra', 'push'],
    ['x = 1\n%import rootfs.tar base', 'import'],
    ['%snapshot -t env', 'build'],
    ['%images', null],
    ['print("%pull")', null]
  ])('%j → %s', (source, kind) => {
    expect(kernelWorkOf(source)).toBe(kind);
  });
});

describe('the activity summary', () => {
  it('is empty when nothing runs', () => {
    const model = new ActivityModel();
    expect(model.summary()).toBe('');
    expect(model.progress()).toBeNull();
  });

  it('follows the builds and transfers running in any process', () => {
    const model = new ActivityModel();
    expect(model.applyMessage({ type: 'hello', tasks: [task({ step: 2, steps: 4 })], activity: [] })).toBe(true);
    // This server's task alone shows nowhere in the status bar: its activity record does.
    expect(model.summary()).toBe('');
    model.applyMessage({ type: 'activity', activity: [work({ step: 2, steps: 4, where: 'JupyterLab' })] });
    expect(model.summary()).toBe('Building web:v1 (step 2/4)');
    expect(model.progress()).toBe(25);
    model.applyMessage({
      type: 'activity',
      activity: [
        work({ step: 2, steps: 4, where: 'JupyterLab' }),
        work({ id: '7-1', kind: 'push', title: 'ouruser/sinatra', done_bytes: 50, total_bytes: 200, where: 'nbdocker CLI' })
      ]
    });
    expect(model.summary()).toBe('Building web:v1 (step 2/4) (+1 more)');
    expect(model.lines()[1]).toBe('Pushing ouruser/sinatra (50 B / 200 B) · nbdocker CLI');
    expect(model.progress()).toBe(25);
    model.applyMessage({ type: 'activity', activity: [] });
    expect(model.summary()).toBe('');
    expect(model.progress()).toBeNull();
    model.applyMessage({ type: 'task', task: task({ status: 'done', step: 4, steps: 4 }) });
    expect(model.recent.map(t => t.id)).toEqual(['build-1']);
    expect(model.applyMessage({ type: 'store' })).toBe(false);
  });

  it('counts kernel work the store does not record, and leaves builds to the records', () => {
    const model = new ActivityModel();
    model.startKernelWork({ id: 'c1', kind: 'commit', where: 'tutorial.ipynb', started: 0 });
    model.startKernelWork({ id: 'c2', kind: 'build', where: 'tutorial.ipynb', started: 0 });
    expect(model.summary()).toBe('Committing · tutorial.ipynb');
    model.applyMessage({ type: 'activity', activity: [work({ step: 3, steps: 7, where: 'tutorial.ipynb' })] });
    expect(model.lines()).toEqual(['Building web:v1 (step 3/7) · tutorial.ipynb', 'Committing · tutorial.ipynb']);
    expect(model.endKernelWork('c1')).toBe(true);
    expect(model.endKernelWork('c2')).toBe(true);
    model.applyMessage({ type: 'activity', activity: [] });
    expect(model.summary()).toBe('');
  });

  it('says transfers in bytes, Docker style', () => {
    expect(describeActivity(work({ kind: 'pull', title: 'busybox', done_bytes: 1_234_567, total_bytes: 2_600_000, where: 'a kernel' }))).toBe(
      'Pulling busybox (1.23 MB / 2.6 MB) · a kernel'
    );
    expect(describeActivity(work({ kind: 'load', title: '-', done_bytes: 340_000, where: 'nbdocker CLI' }))).toBe(
      'Loading - (340 kB) · nbdocker CLI'
    );
    expect(describeActivity(work({ kind: 'import', title: 'rootfs.tar', where: 'x.ipynb' }))).toBe('Importing rootfs.tar · x.ipynb');
    expect(humanSize(0)).toBe('0 B');
    expect(humanSize(999)).toBe('999 B');
    expect(humanSize(10_000_000)).toBe('10 MB');
    expect(humanSize(123_456_789)).toBe('123 MB');
    expect(activityFraction(work({ kind: 'pull', done_bytes: 5, total_bytes: 10 }))).toBe(0.5);
    expect(activityFraction(work({ kind: 'pull' }))).toBeNull();
    expect(activityFraction(work({ step: 0, steps: 3 }))).toBeNull();
  });

  it('measures builds by steps and transfers by bytes', () => {
    expect(taskFraction(task({ step: 1, steps: 3 }))).toBe(0);
    expect(taskFraction(task({ step: 3, steps: 3 }))).toBeCloseTo(2 / 3);
    expect(taskFraction(task({ kind: 'push' }))).toBeNull();
    expect(taskFraction(task({ status: 'failed' }))).toBe(1);
    expect(describeTask(task({ kind: 'push', title: 'x', status: 'done' }))).toBe('Pushing x');
  });
});
