/** An activity record as the server sends it, with the fields a test cares about changed. */
import { IActivity } from '../src/model';

export function work(over: Partial<IActivity>): IActivity {
  return {
    id: '42-1',
    kind: 'build',
    title: 'web:v1',
    step: 0,
    steps: 0,
    instruction: '',
    done_bytes: 0,
    total_bytes: 0,
    started: 1,
    where: 'nbdocker CLI',
    ...over
  };
}
