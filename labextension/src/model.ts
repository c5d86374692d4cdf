/**
 * What the lab knows of the work going on, folded into what the status bar and the panel show:
 * the builds and transfers running on the store in any process — a kernel, the CLI, this
 * server — with their progress (the event socket's `activity`, from the records the engine
 * keeps in the store); the builds and pushes this server runs, with their logs (`task`); and
 * other magic cells executing in notebooks (commits, `%%container`). Pure: no widgets, no network.
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

/** A build or transfer running on the store, in any process (nbdocker/engine/activity.py). */
export interface IActivity {
  id: string;
  kind: 'build' | 'pull' | 'push' | 'import' | 'load';
  title: string;
  step: number;
  steps: number;
  instruction: string;
  done_bytes: number;
  total_bytes: number;
  started: number;
  /** Where it runs: a notebook's path, 'JupyterLab', 'nbdocker CLI', 'a kernel'… */
  where: string;
}

/** Kinds of kernel work the store's activity records show, with progress, from any process. */
const RECORDED = new Set(['build', 'pull', 'push', 'import', 'load']);

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
  /** The builds and transfers running on the store now, oldest first. */
  activity: IActivity[] = [];

  /** Fold one event-socket message; true when something visible changed. */
  applyMessage(message: { type: string; task?: ITask; tasks?: ITask[]; activity?: IActivity[] }): boolean {
    if (message.type === 'hello') {
      this.tasks.clear();
      for (const task of message.tasks ?? []) {
        this.tasks.set(task.id, task);
      }
      this.activity = message.activity ?? [];
      return true;
    }
    if (message.type === 'activity') {
      this.activity = message.activity ?? [];
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

  /** Kernel work the activity records do not show (commits, `%%container` cells). */
  get otherKernelWork(): IKernelWork[] {
    return [...this.kernelWork.values()].filter(w => !RECORDED.has(w.kind));
  }

  /** The status bar's lines, one per piece of work, the oldest first. */
  lines(): string[] {
    return [
      ...this.activity.map(describeActivity),
      ...this.otherKernelWork.map(w => `${verb(w.kind)} · ${w.where}`)
    ];
  }

  /** The status bar's text: '' when nothing runs. */
  summary(): string {
    const parts = this.lines();
    if (parts.length === 0) {
      return '';
    }
    return parts.length === 1 ? parts[0] : `${parts[0]} (+${parts.length - 1} more)`;
  }

  /** Overall progress of the running builds and transfers in [0, 100], or null when unknown. */
  progress(): number | null {
    const fractions = this.activity.map(activityFraction).filter((f): f is number => f !== null);
    if (fractions.length === 0) {
      return null;
    }
    return Math.round((100 * fractions.reduce((a, b) => a + b, 0)) / fractions.length);
  }
}

/** The fraction of a running build or transfer done: steps finished, bytes sent. */
export function activityFraction(work: IActivity): number | null {
  if (work.kind === 'build') {
    return work.steps > 0 && work.step > 0 ? (work.step - 1) / work.steps : null;
  }
  return work.total_bytes > 0 ? Math.min(1, work.done_bytes / work.total_bytes) : null;
}

/** Bytes as Docker writes them: decimal units, three figures ("1.2 MB", "340 kB"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const text = unit === 0 || value >= 100 ? Math.round(value).toString() : value.toPrecision(3).replace(/\.?0+$/, '');
  return `${text} ${units[unit]}`;
}

/**
 * One piece of work as the status bar says it: "Building web:v2 (step 3/7) · tutorial.ipynb",
 * "Pulling busybox (1.2 MB / 2.6 MB) · nbdocker CLI"; this server's own work says no place.
 */
export function describeActivity(work: IActivity): string {
  let detail = '';
  if (work.kind === 'build') {
    detail = work.steps > 0 && work.step > 0 ? ` (step ${work.step}/${work.steps})` : '';
  } else if (work.total_bytes > 0) {
    detail = ` (${humanSize(work.done_bytes)} / ${humanSize(work.total_bytes)})`;
  } else if (work.done_bytes > 0) {
    detail = ` (${humanSize(work.done_bytes)})`;
  }
  const where = work.where && work.where !== 'JupyterLab' ? ` · ${work.where}` : '';
  return `${verb(work.kind)} ${work.title}${detail}${where}`;
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
