/** An image's history and layers: per layer its instruction, size and the files it touched. */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { ILayer, ILayers } from './api';

function FileList(props: { kind: string; files: string[]; count: number }): JSX.Element | null {
  if (props.count === 0) {
    return null;
  }
  const more = props.count - props.files.length;
  return (
    <div className={`nbdocker-Files nbdocker-Files-${props.kind}`}>
      <div className="nbdocker-FilesHeader">
        {props.kind} ({props.count})
      </div>
      <ul>
        {props.files.map(f => (
          <li key={f}>
            <code>{f}</code>
          </li>
        ))}
        {more > 0 && <li className="nbdocker-More">… and {more} more</li>}
      </ul>
    </div>
  );
}

function Layer(props: { layer: ILayer; open: boolean; toggle: () => void }): JSX.Element {
  const { layer } = props;
  const total = layer.counts.added + layer.counts.changed + layer.counts.removed;
  return (
    <li className="nbdocker-Layer" data-index={layer.index}>
      <button className="nbdocker-LayerHead" onClick={props.toggle} aria-expanded={props.open}>
        <span className="nbdocker-LayerIndex">{layer.index + 1}</span>
        <code className="nbdocker-LayerCommand">{layer.created_by || '(no history)'}</code>
        <span className="nbdocker-LayerSize">{layer.size_text}</span>
        <span className="nbdocker-LayerCounts">
          +{layer.counts.added} ~{layer.counts.changed} −{layer.counts.removed}
        </span>
      </button>
      {props.open && (
        <div className="nbdocker-LayerFiles">
          {total === 0 && <div>No files.</div>}
          <FileList kind="added" files={layer.added} count={layer.counts.added} />
          <FileList kind="changed" files={layer.changed} count={layer.counts.changed} />
          <FileList kind="removed" files={layer.removed} count={layer.counts.removed} />
        </div>
      )}
    </li>
  );
}

function LayersComponent(props: { data: ILayers }): JSX.Element {
  const { data } = props;
  const [open, setOpen] = React.useState<Set<number>>(
    new Set(data.layers.length ? [data.layers.length - 1] : [])
  );
  const toggle = (index: number) => {
    const next = new Set(open);
    if (next.has(index)) {
      next.delete(index);
    } else {
      next.add(index);
    }
    setOpen(next);
  };
  return (
    <div className="nbdocker-LayersView">
      <h2>
        {data.tags.join(', ') || data.short_id} <small>{data.short_id}</small>
      </h2>
      <p>
        {data.layers.length} layer{data.layers.length === 1 ? '' : 's'}, {data.size_text}
      </p>
      <h3>History</h3>
      <table className="nbdocker-History">
        <thead>
          <tr>
            <th>IMAGE</th>
            <th>CREATED</th>
            <th>CREATED BY</th>
            <th>SIZE</th>
            <th>COMMENT</th>
          </tr>
        </thead>
        <tbody>
          {data.history.map((h, i) => (
            <tr key={i}>
              <td>
                <code>{h.image === '<missing>' ? h.image : h.image.replace('sha256:', '').slice(0, 12)}</code>
              </td>
              <td>{h.created_text}</td>
              <td>
                <code>{h.created_by}</code>
              </td>
              <td>{h.size_text}</td>
              <td>{h.comment}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Layers (bottom first)</h3>
      <ol className="nbdocker-Layers">
        {data.layers.map(layer => (
          <Layer
            key={layer.index}
            layer={layer}
            open={open.has(layer.index)}
            toggle={() => toggle(layer.index)}
          />
        ))}
      </ol>
    </div>
  );
}

export class LayersView extends ReactWidget {
  constructor(data: ILayers) {
    super();
    this.data = data;
    this.addClass('nbdocker-LayersWidget');
  }

  readonly data: ILayers;

  render(): JSX.Element {
    return <LayersComponent data={this.data} />;
  }
}
