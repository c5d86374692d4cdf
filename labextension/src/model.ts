/**
 * What the lab knows of the work going on: builds and pushes this server runs (from the event
 * socket) and magic cells executing in notebooks, folded into what the status bar and the
 * panel show. Pure: no widgets, no network.
 */

export interface ITask {
  id: string;
  kind: 'build' | 'push';
  title: string;
  status: 'running' | 'done' | 'failed';
  message: string;
  result: string;
  step: number;
  steps: number;
  instruction: string;
  done_bytes: number;
  total_bytes: number;
  started: number;
  finished: number | null;
  log?: string[];
}

/** A cell running an nbdocker magic in a kernel (seen from the notebook, not the server). */
export interface IKernelWork {
  id: string;
  /** 'build', 'pull', 'push', 'import', 'commit', 'run'. */
  kind: string;
  /** Where: the notebook's name. */
  where: string;
  started: number;
}

/** The kernel work a cell's source starts, or null: `%%dockerfile`, `%pull x`, `%docker build`… */
export function kernelWorkOf(source: string): string | null {
  const text = source.replace(/^\s+/, '');
  if (/^%%dockerfile(\s|$)/.test(text)) {
    return 'build';
  }
  if (/^%%container(\s|$)/.test(text)) {
    return 'run';
  }
  const line = /^%(docker\s+)?(build|pull|push|import|commit|snapshot|load|save)\b/m.exec(text);
  if (line) {
    return line[2] === 'snapshot' ? 'build' : line[2];
  }
  return null;
}

export class ActivityModel {
  readonly tasks = new Map<string, ITask>();
  readonly kernelWork = new Map<string, IKernelWork>();

  /** Fold one event-socket message; true when something visible changed. */
  applyMessage(message: { type: string; task?: ITask; tasks?: ITask[] }): boolean {
    if (message.type === 'hello') {
      this.tasks.clear();
      for (const task of message.tasks ?? []) {
        this.tasks.set(task.id, task);
      }
      return true;
    }
    if (message.type === 'task' && message.task) {
      this.tasks.set(message.task.id, message.task);
      return true;
    }
    return false;
  }

  startKernelWork(work: IKernelWork): void {
    this.kernelWork.set(work.id, work);
  }

  endKernelWork(id: string): boolean {
    return this.kernelWork.delete(id);
  }

  get running(): ITask[] {
    return [...this.tasks.values()].filter(t => t.status === 'running');
  }

  /** The newest tasks first. */
  get recent(): ITask[] {
    return [...this.tasks.values()].sort((a, b) => b.started - a.started);
  }

  /** The status bar's text: '' when nothing runs. */
  summary(): string {
    const parts: string[] = [];
    for (const task of this.running) {
      parts.push(describeTask(task));
    }
    for (const work of this.kernelWork.values()) {
      parts.push(`${verb(work.kind)} in ${work.where}`);
    }
    if (parts.length === 0) {
      return '';
    }
    return parts.length === 1 ? parts[0] : `${parts[0]} (+${parts.length - 1} more)`;
  }

  /** Overall progress of the running tasks in [0, 100], or null when unknown. */
  progress(): number | null {
    const fractions = this.running.map(taskFraction).filter((f): f is number => f !== null);
    if (fractions.length === 0) {
      return null;
    }
    return Math.round((100 * fractions.reduce((a, b) => a + b, 0)) / fractions.length);
  }
}

function verb(kind: string): string {
  const verbs: Record<string, string> = {
    build: 'Building',
    pull: 'Pulling',
    push: 'Pushing',
    import: 'Importing',
    commit: 'Committing',
    run: 'Running',
    load: 'Loading',
    save: 'Saving'
  };
  return verbs[kind] ?? kind;
}

/** The fraction of a task done: steps for a build, bytes for a transfer. */
export function taskFraction(task: ITask): number | null {
  if (task.status !== 'running') {
    return 1;
  }
  if (task.kind === 'build' && task.steps > 0) {
    return Math.max(0, task.step - 1) / task.steps;
  }
  if (task.total_bytes > 0) {
    return Math.min(1, task.done_bytes / task.total_bytes);
  }
  return null;
}

/** "Building web:v2 (step 2/5)", "Pushing ouruser/sinatra (45%)". */
export function describeTask(task: ITask): string {
  if (task.kind === 'build') {
    const step = task.steps > 0 && task.step > 0 ? ` (step ${task.step}/${task.steps})` : '';
    return `${verb('build')} ${task.title}${step}`;
  }
  const fraction = taskFraction(task);
  const percent = fraction !== null && task.status === 'running' ? ` (${Math.round(fraction * 100)}%)` : '';
  return `${verb(task.kind)} ${task.title}${percent}`;
}
