/** The status bar item: builds and transfers running (this server's and the kernels'). */
import { TextItem } from '@jupyterlab/statusbar';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { StoreModel } from './store';

export class ActivityStatus extends ReactWidget {
  constructor(model: StoreModel, open: () => void) {
    super();
    this.model = model;
    this.addClass('nbdocker-Status');
    this.node.title = 'nbdocker: click to open the images panel';
    this.node.addEventListener('click', open);
  }

  readonly model: StoreModel;

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => {
          const text = this.model.activity.summary();
          const progress = this.model.activity.progress();
          return (
            <span className="nbdocker-StatusText">
              <TextItem source={text} />
              {progress !== null && <progress max={100} value={progress} />}
            </span>
          );
        }}
      </UseSignal>
    );
  }
}
