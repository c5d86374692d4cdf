/**
 * What the status bar item shows, as a pure component (no JupyterLab imports, so it renders
 * anywhere, tests included): the first piece of work running with "(+N more)", the others in
 * its tooltip, and one progress bar for all of them. Nothing when nothing runs.
 */
import * as React from 'react';

import { ActivityModel } from './model';

export function ActivityStatusView(props: { activity: ActivityModel }): JSX.Element | null {
  const text = props.activity.summary();
  if (text === '') {
    return null;
  }
  const progress = props.activity.progress();
  return (
    <span className="nbdocker-StatusText" title={props.activity.lines().join('\n')}>
      <span className="jp-StatusBar-TextItem">{text}</span>
      {progress !== null && <progress max={100} value={progress} />}
    </span>
  );
}
