/** A "Build" button on the toolbar of every Dockerfile open in the editor. */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ToolbarButton } from '@jupyterlab/apputils';
import { DocumentRegistry, IDocumentWidget } from '@jupyterlab/docregistry';
import { FileEditor } from '@jupyterlab/fileeditor';
import { IDisposable } from '@lumino/disposable';

import { CommandIDs } from './commands';
import { isDockerfilePath } from './dockerfile';

export class BuildButtonExtension
  implements DocumentRegistry.IWidgetExtension<IDocumentWidget<FileEditor>, DocumentRegistry.ICodeModel>
{
  constructor(app: JupyterFrontEnd) {
    this.app = app;
  }

  readonly app: JupyterFrontEnd;

  createNew(
    widget: IDocumentWidget<FileEditor>,
    context: DocumentRegistry.IContext<DocumentRegistry.ICodeModel>
  ): IDisposable {
    const button = new ToolbarButton({
      className: 'nbdocker-BuildButton',
      label: 'Build',
      tooltip: 'Build this Dockerfile (nbdocker build -t NAME -f FILE ITS_FOLDER); progress in the images panel',
      onClick: async () => {
        if (context.model.dirty) {
          await context.save();
        }
        await this.app.commands.execute(CommandIDs.build, { path: context.path });
      }
    });
    const show = () => button.setHidden(!isDockerfilePath(context.path));
    context.pathChanged.connect(show);
    show();
    widget.toolbar.insertItem(10, 'nbdocker-build', button);
    return button;
  }
}
