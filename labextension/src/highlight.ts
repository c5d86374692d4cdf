/**
 * `%%dockerfile` and `%%container` cells in notebooks and consoles get their own language.
 *
 * A cell's language follows its model's mime type, which the notebook sets from the kernel's
 * language for every code cell. For each code cell we watch its source: while the first line
 * is one of our cell magics the cell's mime type is ours (a Dockerfile or a shell script under
 * a magic line); when the magic goes, the kernel's mime type comes back. If the notebook resets
 * the mime type (kernel change), the magic's wins again.
 */
import { ICellModel } from '@jupyterlab/cells';
import { IConsoleTracker } from '@jupyterlab/console';
import { INotebookTracker } from '@jupyterlab/notebook';

import { magicMime, MAGIC_MIMES } from './cellmagic';

const watched = new WeakSet<ICellModel>();

/** Keep ``model``'s mime type in step with the magic on its first line. */
export function watchCell(model: ICellModel): void {
  if (model.type !== 'code' || watched.has(model)) {
    return;
  }
  watched.add(model);
  let kernelMime = MAGIC_MIMES.has(model.mimeType) ? 'text/x-ipython' : model.mimeType;
  const update = () => {
    if (model.isDisposed) {
      return;
    }
    const wanted = magicMime(model.sharedModel.getSource());
    if (wanted !== null) {
      if (model.mimeType !== wanted) {
        model.mimeType = wanted;
      }
    } else if (MAGIC_MIMES.has(model.mimeType)) {
      model.mimeType = kernelMime;
    }
  };
  model.mimeTypeChanged.connect((_, change) => {
    const value = change.newValue as string;
    if (!MAGIC_MIMES.has(value)) {
      kernelMime = value;
      update();
    }
  });
  model.sharedModel.changed.connect((_, change) => {
    if (change.sourceChange) {
      update();
    }
  });
  update();
}

export function trackNotebooks(notebooks: INotebookTracker): void {
  notebooks.widgetAdded.connect((_, panel) => {
    const watchModel = () => {
      const model = panel.content.model;
      if (!model) {
        return;
      }
      for (const cell of model.cells) {
        watchCell(cell);
      }
      model.cells.changed.connect((_, change) => {
        for (const cell of change.newValues) {
          watchCell(cell);
        }
      });
    };
    panel.content.modelChanged.connect(watchModel);
    watchModel();
  });
}

export function trackConsoles(consoles: IConsoleTracker): void {
  consoles.widgetAdded.connect((_, panel) => {
    const console = panel.console;
    if (console.promptCell) {
      watchCell(console.promptCell.model);
    }
    console.promptCellCreated.connect((_, cell) => watchCell(cell.model));
  });
}
