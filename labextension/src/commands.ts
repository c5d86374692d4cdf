/**
 * Every action of the extension is a command: the panel's buttons, the editor's Build button,
 * the status bar and the palette all run these, so each behaves the same wherever it is
 * started. A command run without its argument (from the palette) asks for it.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Clipboard, ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';

import { api, NbdockerError } from './api';
import { askForm, askItem, askText, confirm, failed, showListing } from './dialogs';
import { LayersView } from './layers';
import { StoreModel } from './store';

export namespace CommandIDs {
  export const openPanel = 'nbdocker:open-panel';
  export const refresh = 'nbdocker:refresh';
  export const openTerminal = 'nbdocker:open-terminal';
  export const attach = 'nbdocker:attach-terminal';
  export const tag = 'nbdocker:tag';
  export const push = 'nbdocker:push';
  export const removeImage = 'nbdocker:remove-image';
  export const copyId = 'nbdocker:copy-image-id';
  export const layers = 'nbdocker:show-layers';
  export const commit = 'nbdocker:commit';
  export const diff = 'nbdocker:diff';
  export const removeContainer = 'nbdocker:remove-container';
  export const build = 'nbdocker:build';
  export const toggleDangling = 'nbdocker:toggle-dangling';
}

export const PANEL_ID = 'nbdocker-images';

export interface ICommandContext {
  app: JupyterFrontEnd;
  model: StoreModel;
  /** The Dockerfile path of the current editor, if the current widget is one. */
  currentDockerfile: () => string | null;
  hideDangling: { value: boolean };
}

/** A new container's terminal: open it in a tab (JupyterLab's own terminal widget). */
export async function openTerminal(app: JupyterFrontEnd, name: string): Promise<void> {
  await app.commands.execute('terminal:open', { name });
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export function addCommands(ctx: ICommandContext, palette: ICommandPalette | null): void {
  const { app, model } = ctx;
  const { commands } = app;
  const imageRefs = () => model.images.map(i => (i.dangling ? i.short_id : i.reference));
  const pickImage = async (args: any, title: string) =>
    str(args.image) || (await askItem(title, 'Image', imageRefs()));
  const pickContainer = async (args: any, title: string, filter = (_: any) => true) =>
    str(args.container) ||
    (await askItem(
      title,
      'Container',
      model.containers.filter(filter).map(c => c.name)
    ));

  commands.addCommand(CommandIDs.openPanel, {
    label: 'Show Images Panel',
    caption: 'The images and containers of the nbdocker store',
    execute: () => app.shell.activateById(PANEL_ID)
  });

  commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh Images and Containers',
    execute: () => model.reload()
  });

  commands.addCommand(CommandIDs.toggleDangling, {
    label: 'Hide Dangling Images',
    isToggled: () => ctx.hideDangling.value,
    execute: () => {
      ctx.hideDangling.value = !ctx.hideDangling.value;
      model.touch();
    }
  });

  commands.addCommand(CommandIDs.openTerminal, {
    label: args => (args.image ? `Open a Terminal in ${args.image}` : 'Open a Terminal in a Container…'),
    caption: 'docker run -t -i IMAGE: a shell in a new container, in a terminal tab',
    execute: async args => {
      const image = await pickImage(args, 'Open a terminal in a new container of');
      if (!image) {
        return;
      }
      try {
        const shell = await api.newShell(image);
        await openTerminal(app, shell.terminal);
        void model.reload();
      } catch (error) {
        await failed(`Cannot open a terminal in ${image}`, error);
      }
    }
  });

  commands.addCommand(CommandIDs.attach, {
    label: 'Open the Terminal of a Container…',
    caption: 'Start a container made for a terminal (-i -t) in a terminal tab',
    execute: async args => {
      const container = await pickContainer(
        args,
        'Open the terminal of',
        c => c.tty && c.state !== 'running'
      );
      if (!container) {
        return;
      }
      try {
        const shell = await api.attachShell(container, Boolean(args.rm));
        await openTerminal(app, shell.terminal);
        void model.reload();
      } catch (error) {
        await failed(`Cannot open the terminal of ${container}`, error);
      }
    }
  });

  commands.addCommand(CommandIDs.tag, {
    label: 'Tag an Image…',
    caption: 'docker tag SOURCE TARGET',
    execute: async args => {
      const image = await pickImage(args, 'Tag');
      if (!image) {
        return;
      }
      const target = await askText(`Tag ${image}`, 'New name (repository:tag)', '', 'Tag');
      if (!target) {
        return;
      }
      try {
        await api.tag(image, target);
        await model.reload();
      } catch (error) {
        await failed(`Cannot tag ${image}`, error);
      }
    }
  });

  commands.addCommand(CommandIDs.push, {
    label: 'Push an Image…',
    caption: 'docker push REPOSITORY[:TAG] to its registry',
    execute: async args => {
      const reference = await pickImage(args, 'Push');
      if (!reference) {
        return;
      }
      try {
        const { task } = await api.push(reference);
        model.noteTask(task);
        app.shell.activateById(PANEL_ID);
      } catch (error) {
        await failed(`Cannot push ${reference}`, error);
      }
    }
  });

  commands.addCommand(CommandIDs.removeImage, {
    label: 'Remove an Image…',
    caption: 'docker rmi IMAGE',
    execute: async args => {
      const image = await pickImage(args, 'Remove');
      if (!image) {
        return;
      }
      if (!(await confirm('Remove image', `Remove ${image}?`, 'Remove'))) {
        return;
      }
      try {
        await api.removeImage(image);
      } catch (error) {
        if (error instanceof NbdockerError && /must be forced/.test(error.message)) {
          const force = await confirm('Remove image', `${error.message}\n\nForce it?`, 'Force');
          if (force) {
            try {
              await api.removeImage(image, true);
            } catch (again) {
              await failed(`Cannot remove ${image}`, again);
            }
          }
        } else {
          await failed(`Cannot remove ${image}`, error);
        }
      }
      await model.reload();
    }
  });

  commands.addCommand(CommandIDs.copyId, {
    label: 'Copy Image ID',
    execute: async args => {
      const image = await pickImage(args, 'Copy the ID of');
      const row = model.images.find(i => i.reference === image || i.short_id === image || i.id === image);
      if (row) {
        Clipboard.copyToSystem(row.id);
      }
    }
  });

  commands.addCommand(CommandIDs.layers, {
    label: 'Show History and Layers…',
    caption: 'docker history, and the files each layer added, changed and removed',
    execute: async args => {
      const image = await pickImage(args, 'Show the layers of');
      if (!image) {
        return;
      }
      try {
        const data = await api.layers(image);
        const content = new LayersView(data);
        const widget = new MainAreaWidget({ content });
        widget.id = `nbdocker-layers-${data.short_id}-${Date.now()}`;
        widget.title.label = `Layers: ${data.tags[0] ?? data.short_id}`;
        widget.title.closable = true;
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      } catch (error) {
        await failed(`Cannot show the layers of ${image}`, error);
      }
    }
  });

  commands.addCommand(CommandIDs.commit, {
    label: 'Commit a Container…',
    caption: "docker commit: the container's changes as a new image",
    execute: async args => {
      const container = await pickContainer(args, 'Commit');
      if (!container) {
        return;
      }
      const form = await askForm(
        `Commit ${container}`,
        [
          { name: 'reference', label: 'Repository:tag', placeholder: 'ouruser/sinatra:v2' },
          { name: 'message', label: 'Message (-m)', placeholder: 'Added json gem' },
          { name: 'author', label: 'Author (-a)', placeholder: 'Docker Newbee' }
        ],
        'Commit'
      );
      if (!form) {
        return;
      }
      try {
        await api.commit(container, form.reference, form.message, form.author);
        await model.reload();
      } catch (error) {
        await failed(`Cannot commit ${container}`, error);
      }
    }
  });

  commands.addCommand(CommandIDs.diff, {
    label: 'Show What a Container Changed…',
    caption: 'docker diff CONTAINER',
    execute: async args => {
      const container = await pickContainer(args, 'Changes of');
      if (!container) {
        return;
      }
      try {
        const { changes } = await api.diff(container);
        await showListing(
          `Changes in ${container}`,
          changes.map(c => `${c.kind} ${c.path}`),
          'No changes.'
        );
      } catch (error) {
        await failed(`Cannot list the changes of ${container}`, error);
      }
    }
  });

  commands.addCommand(CommandIDs.removeContainer, {
    label: 'Remove a Container…',
    caption: 'docker rm CONTAINER',
    execute: async args => {
      const container = await pickContainer(args, 'Remove');
      if (!container) {
        return;
      }
      const running = model.containers.find(c => c.name === container)?.state === 'running';
      const question = running
        ? `${container} is running: stop and remove it?`
        : `Remove ${container} and its changes?`;
      if (!(await confirm('Remove container', question, 'Remove'))) {
        return;
      }
      try {
        await api.removeContainer(container, running);
        await model.reload();
      } catch (error) {
        await failed(`Cannot remove ${container}`, error);
      }
    }
  });

  commands.addCommand(CommandIDs.build, {
    label: 'Build This Dockerfile…',
    caption: 'docker build -t NAME -f THIS_FILE ITS_FOLDER',
    isEnabled: args => Boolean(str(args.path) || ctx.currentDockerfile()),
    execute: async args => {
      const path = str(args.path) || ctx.currentDockerfile();
      if (!path) {
        return;
      }
      const folder = PathExt.basename(PathExt.dirname(path)) || 'image';
      const suggestion = `${folder.toLowerCase().replace(/[^a-z0-9._-]+/g, '-')}:latest`;
      const names = await askText(`Build ${path}`, 'Name the image (-t, space-separated)', suggestion, 'Build');
      if (!names) {
        return;
      }
      try {
        const { task } = await api.build(path, names.split(/\s+/).filter(Boolean));
        model.noteTask(task);
        app.shell.activateById(PANEL_ID);
      } catch (error) {
        await failed(`Cannot build ${path}`, error);
      }
    }
  });

  if (palette) {
    const category = 'nbdocker';
    for (const command of [
      CommandIDs.openPanel,
      CommandIDs.refresh,
      CommandIDs.openTerminal,
      CommandIDs.attach,
      CommandIDs.tag,
      CommandIDs.push,
      CommandIDs.removeImage,
      CommandIDs.copyId,
      CommandIDs.layers,
      CommandIDs.commit,
      CommandIDs.diff,
      CommandIDs.removeContainer,
      CommandIDs.build,
      CommandIDs.toggleDangling
    ]) {
      palette.addItem({ command, category });
    }
  }
}
