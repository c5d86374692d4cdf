/**
 * The panel's model: the store's images and containers and the server's tasks, reloaded when
 * the event socket says the store changed (whoever changed it: a kernel, the CLI, this lab).
 */
import { ISignal, Signal } from '@lumino/signaling';

import { api, EventSocket, IContainer, IImage } from './api';
import { ActivityModel, ITask } from './model';

export class StoreModel {
  constructor(socket: EventSocket) {
    this.socket = socket;
    socket.message.connect((_, message) => {
      if (message.type === 'store') {
        void this.reload();
      } else if (this.activity.applyMessage(message)) {
        if (message.type === 'task' && message.task && message.task.status !== 'running') {
          void this.reload();
        }
        this._changed.emit();
      }
    });
    socket.reconnected.connect(() => void this.reload());
    // Ages ("5 minutes ago") move on even when the store does not.
    this._timer = window.setInterval(() => void this.reload(), 60000);
    void this.reload();
  }

  readonly socket: EventSocket;
  readonly activity = new ActivityModel();
  images: IImage[] = [];
  containers: IContainer[] = [];
  error = '';
  loaded = false;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The task whose log the panel shows (the last one the user started). */
  selectedTask = '';

  noteTask(task: ITask): void {
    this.activity.tasks.set(task.id, task);
    this.selectedTask = task.id;
    this._changed.emit();
  }

  /** Tell listeners that something outside the model (kernel work) changed. */
  touch(): void {
    this._changed.emit();
  }

  async reload(): Promise<void> {
    // Coalesce bursts (a build's end, a tag and a store change arrive together).
    if (this._loading) {
      this._again = true;
      return this._loading;
    }
    this._loading = (async () => {
      do {
        this._again = false;
        try {
          const [images, containers] = await Promise.all([api.images(), api.containers()]);
          this.images = images.images;
          this.containers = containers.containers;
          this.error = '';
        } catch (error) {
          this.error = (error as Error).message;
        }
        this.loaded = true;
        this._changed.emit();
      } while (this._again);
    })();
    try {
      await this._loading;
    } finally {
      this._loading = null;
    }
  }

  dispose(): void {
    window.clearInterval(this._timer);
  }

  private _timer: number;
  private _loading: Promise<void> | null = null;
  private _again = false;
  private _changed = new Signal<this, void>(this);
}
