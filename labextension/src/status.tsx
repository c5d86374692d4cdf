/** The status bar item: builds and transfers running in any process on the store, with their
 * progress; a click opens the images panel. */
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ActivityStatusView } from './statusview';
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
      <UseSignal signal={this.model.changed}>{() => <ActivityStatusView activity={this.model.activity} />}</UseSignal>
    );
  }
}
