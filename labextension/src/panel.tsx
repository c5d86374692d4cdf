/**
 * The images panel in the left sidebar: the store's images (repository, tag, ID, created,
 * size, in use), its containers (running or stopped), the builds and pushes started from
 * the lab, with their live log, and the builds and transfers running elsewhere (kernels, the
 * CLI) with their progress. Every button runs a command (see commands.ts).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { IContainer, IImage } from './api';
import { CommandIDs } from './commands';
import { activityFraction, describeActivity, describeTask, ITask, taskFraction } from './model';
import { StoreModel } from './store';

interface IProps {
  app: JupyterFrontEnd;
  model: StoreModel;
  hideDangling: { value: boolean };
}

function Action(props: {
  app: JupyterFrontEnd;
  command: string;
  args: Record<string, any>;
  label: string;
  title: string;
}): JSX.Element {
  return (
    <button
      className="nbdocker-Action"
      title={props.title}
      aria-label={`${props.label} ${Object.values(props.args)[0] ?? ''}`.trim()}
      onClick={() => void props.app.commands.execute(props.command, props.args)}
    >
      {props.label}
    </button>
  );
}

function ImageRow(props: { app: JupyterFrontEnd; image: IImage }): JSX.Element {
  const { app, image } = props;
  const name = image.dangling ? '<none>:<none>' : `${image.repository}:${image.tag}`;
  const ref = image.dangling ? image.short_id : image.reference;
  return (
    <li className="nbdocker-Image" data-reference={ref} data-id={image.id}>
      <div className="nbdocker-ItemHead">
        <span className="nbdocker-Name" title={name}>
          {image.dangling ? <i>&lt;none&gt;:&lt;none&gt;</i> : name}
        </span>
        {image.in_use && (
          <span className="nbdocker-Badge" title={`used by ${image.containers.join(', ')}`}>
            in use
          </span>
        )}
      </div>
      <div className="nbdocker-ItemMeta">
        <code title={image.id}>{image.short_id}</code>
        <span>{image.created_text}</span>
        <span>{image.size_text}</span>
      </div>
      <div className="nbdocker-Actions">
        <Action app={app} command={CommandIDs.openTerminal} args={{ image: ref }} label="Shell" title="docker run -it: a shell in a new container, in a terminal" />
        <Action app={app} command={CommandIDs.tag} args={{ image: ref }} label="Tag" title="docker tag" />
        {!image.dangling && (
          <Action app={app} command={CommandIDs.push} args={{ image: ref }} label="Push" title="docker push to the registry its name says" />
        )}
        <Action app={app} command={CommandIDs.layers} args={{ image: ref }} label="Layers" title="docker history, and the files of each layer" />
        <Action app={app} command={CommandIDs.copyId} args={{ image: ref }} label="Copy ID" title="Copy the full image ID" />
        <Action app={app} command={CommandIDs.removeImage} args={{ image: ref }} label="Remove" title="docker rmi" />
      </div>
    </li>
  );
}

function ContainerRow(props: { app: JupyterFrontEnd; container: IContainer }): JSX.Element {
  const { app, container } = props;
  const canAttach = container.tty && (container.state !== 'running' || container.terminal);
  return (
    <li className={`nbdocker-Container nbdocker-mod-${container.state}`} data-name={container.name} data-id={container.id}>
      <div className="nbdocker-ItemHead">
        <span className="nbdocker-Name" title={container.name}>{container.name}</span>
      </div>
      <div className="nbdocker-ItemMeta">
        <span className={`nbdocker-State nbdocker-State-${container.state}`}>{container.status_text}</span>
        <code title={container.id}>{container.short_id}</code>
        <span title={container.image}>{container.image_name}</span>
        <code className="nbdocker-Command" title={container.command}>{container.command}</code>
      </div>
      <div className="nbdocker-Actions">
        {canAttach && (
          <Action app={app} command={CommandIDs.attach} args={{ container: container.name }} label="Terminal" title="Open this container's terminal (start it again)" />
        )}
        <Action app={app} command={CommandIDs.commit} args={{ container: container.name }} label="Commit" title="docker commit: its changes as a new image" />
        <Action app={app} command={CommandIDs.diff} args={{ container: container.name }} label="Diff" title="docker diff: the files it added, changed, deleted" />
        <Action app={app} command={CommandIDs.removeContainer} args={{ container: container.name }} label="Remove" title="docker rm" />
      </div>
    </li>
  );
}

function TaskView(props: { task: ITask; open: boolean; toggle: () => void }): JSX.Element {
  const { task } = props;
  const fraction = taskFraction(task);
  const log = task.log ?? [];
  const logRef = React.useRef<HTMLPreElement>(null);
  React.useEffect(() => {
    if (logRef.current) {
      logRef.current.scrollTop = logRef.current.scrollHeight;
    }
  });
  return (
    <li className={`nbdocker-Task nbdocker-Task-${task.status}`} data-task={task.id}>
      <button className="nbdocker-TaskHead" onClick={props.toggle} aria-expanded={props.open}>
        <span className="nbdocker-TaskTitle">
          {task.status === 'running' ? describeTask(task) : `${task.kind === 'build' ? 'Build' : 'Push'} ${task.title}`}
        </span>
        <span className={`nbdocker-State nbdocker-State-${task.status}`}>{task.status}</span>
      </button>
      {task.status === 'running' && fraction !== null && (
        <progress className="nbdocker-Progress" max={100} value={Math.round(fraction * 100)} />
      )}
      {task.message && <div className="nbdocker-TaskMessage">{task.message}</div>}
      {props.open && (
        <pre className="nbdocker-Log" ref={logRef}>
          {log.join('\n')}
        </pre>
      )}
    </li>
  );
}

function Panel(props: IProps): JSX.Element {
  const { app, model, hideDangling } = props;
  const [openTasks, setOpenTasks] = React.useState<Set<string>>(new Set());
  const images = model.images.filter(i => !(hideDangling.value && i.dangling));
  const tasks = model.activity.recent;
  // This server's own work is in `tasks`, with its log; the rest runs in kernels or the CLI.
  const elsewhere = model.activity.activity.filter(w => w.where !== 'JupyterLab');
  const kernelWork = model.activity.otherKernelWork;
  const isOpen = (id: string) => openTasks.has(id) || id === model.selectedTask;
  const toggle = (id: string) => {
    const next = new Set(openTasks);
    if (isOpen(id)) {
      next.delete(id);
      if (id === model.selectedTask) {
        model.selectedTask = '';
      }
    } else {
      next.add(id);
    }
    setOpenTasks(next);
  };
  return (
    <div className="nbdocker-Panel">
      <div className="nbdocker-Toolbar">
        <span className="nbdocker-Title">Images</span>
        <label className="nbdocker-Dangling">
          <input
            type="checkbox"
            checked={hideDangling.value}
            onChange={() => void app.commands.execute(CommandIDs.toggleDangling)}
          />
          hide dangling
        </label>
        <button className="nbdocker-Action" title="Reload" onClick={() => void model.reload()}>
          Refresh
        </button>
      </div>
      {model.error && <div className="nbdocker-Error">{model.error}</div>}
      <ul className="nbdocker-Images">
        {images.map(image => (
          <ImageRow key={`${image.id} ${image.reference}`} app={app} image={image} />
        ))}
        {model.loaded && images.length === 0 && (
          <li className="nbdocker-Empty">No images yet: build a Dockerfile, or import or pull one.</li>
        )}
      </ul>
      <div className="nbdocker-Section">Containers</div>
      <ul className="nbdocker-Containers">
        {model.containers.map(c => (
          <ContainerRow key={c.id} app={app} container={c} />
        ))}
        {model.loaded && model.containers.length === 0 && <li className="nbdocker-Empty">No containers.</li>}
      </ul>
      {(tasks.length > 0 || elsewhere.length > 0 || kernelWork.length > 0) && (
        <>
          <div className="nbdocker-Section">Builds and transfers</div>
          <ul className="nbdocker-Tasks">
            {elsewhere.map(work => {
              const fraction = activityFraction(work);
              return (
                <li key={work.id} className="nbdocker-Task nbdocker-Task-running nbdocker-Elsewhere">
                  <span className="nbdocker-TaskTitle">{describeActivity(work)}</span>
                  {fraction !== null && (
                    <progress className="nbdocker-Progress" max={100} value={Math.round(fraction * 100)} />
                  )}
                </li>
              );
            })}
            {kernelWork.map(w => (
              <li key={w.id} className="nbdocker-Task nbdocker-Task-running nbdocker-KernelWork">
                <span className="nbdocker-TaskTitle">
                  {w.kind} running in {w.where}
                </span>
              </li>
            ))}
            {tasks.map(task => (
              <TaskView key={task.id} task={task} open={isOpen(task.id)} toggle={() => toggle(task.id)} />
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

export class ImagesPanel extends ReactWidget {
  constructor(props: IProps) {
    super();
    this.props = props;
    this.addClass('nbdocker-PanelWidget');
  }

  readonly props: IProps;

  render(): JSX.Element {
    return (
      <UseSignal signal={this.props.model.changed}>
        {() => <Panel {...this.props} />}
      </UseSignal>
    );
  }
}
