/**
 * `%docker run -it` in a notebook or console opens a terminal tab (see the kernel side,
 * nbdocker/notebook/lab_terminal.py): on every kernel this lab talks to, the comm target
 * `nbdocker.lab` answers the magics' hello with `{"terminals": true}`, and a comm opened with
 * `{"run": [ARGS…]}` becomes a JupyterLab terminal running `nbdocker run ARGS…`.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';

import { api } from './api';
import { failed } from './dialogs';
import { openTerminal } from './commands';

export const TARGET = 'nbdocker.lab';

const registered = new WeakSet<Kernel.IKernelConnection>();

export function serveKernel(app: JupyterFrontEnd, kernel: Kernel.IKernelConnection | null): void {
  if (!kernel || registered.has(kernel)) {
    return;
  }
  registered.add(kernel);
  kernel.registerCommTarget(TARGET, (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg) => {
    const data = msg.content.data as { hello?: number; run?: string[] };
    if (data.hello) {
      comm.send({ terminals: true });
    } else if (Array.isArray(data.run)) {
      void (async () => {
        try {
          const { terminal } = await api.runInTerminal(data.run!);
          await openTerminal(app, terminal);
        } catch (error) {
          await failed('Cannot open the terminal of nbdocker run', error);
        }
      })();
    }
  });
}

/** Serve the kernel of a notebook or console, now and after each kernel change. */
export function serveSession(app: JupyterFrontEnd, session: ISessionContext): void {
  session.kernelChanged.connect((_, change) => serveKernel(app, change.newValue));
  serveKernel(app, session.session?.kernel ?? null);
}
