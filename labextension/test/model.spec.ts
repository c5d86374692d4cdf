import { describe, expect, it } from 'vitest';

import { ActivityModel, describeTask, ITask, kernelWorkOf, taskFraction } from '../src/model';

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

  it('follows the tasks the event socket reports', () => {
    const model = new ActivityModel();
    expect(model.applyMessage({ type: 'hello', tasks: [task({ step: 2, steps: 4 })] })).toBe(true);
    expect(model.summary()).toBe('Building web:v1 (step 2/4)');
    expect(model.progress()).toBe(25);
    model.applyMessage({
      type: 'task',
      task: task({ id: 'push-2', kind: 'push', title: 'ouruser/sinatra', done_bytes: 50, total_bytes: 200, started: 2 })
    });
    expect(model.summary()).toBe('Building web:v1 (step 2/4) (+1 more)');
    expect(model.progress()).toBe(25);
    model.applyMessage({ type: 'task', task: task({ status: 'done', step: 4, steps: 4 }) });
    expect(model.summary()).toBe('Pushing ouruser/sinatra (25%)');
    expect(model.recent.map(t => t.id)).toEqual(['push-2', 'build-1']);
    expect(model.applyMessage({ type: 'store' })).toBe(false);
  });

  it('counts work running in kernels', () => {
    const model = new ActivityModel();
    model.startKernelWork({ id: 'c1', kind: 'build', where: 'tutorial.ipynb', started: 0 });
    expect(model.summary()).toBe('Building in tutorial.ipynb');
    expect(model.endKernelWork('c1')).toBe(true);
    expect(model.summary()).toBe('');
  });

  it('measures builds by steps and transfers by bytes', () => {
    expect(taskFraction(task({ step: 1, steps: 3 }))).toBe(0);
    expect(taskFraction(task({ step: 3, steps: 3 }))).toBeCloseTo(2 / 3);
    expect(taskFraction(task({ kind: 'push' }))).toBeNull();
    expect(taskFraction(task({ status: 'failed' }))).toBe(1);
    expect(describeTask(task({ kind: 'push', title: 'x', status: 'done' }))).toBe('Pushing x');
  });
});
