import { RawCommand } from 'bullmq';
import { moveToActive } from 'bullmq/dist/cjs/scripts';
import { MARKER_PATCHED, markerOnlyWhileJobsWait } from './lean-worker';

describe('markerOnlyWhileJobsWait (BullMQ moveToActive)', () => {
  it('adapts the script of the BullMQ installed (a BullMQ upgrade that changed it fails here first)', () => {
    expect(MARKER_PATCHED).toBe(true);
  });

  it('changes only the marker line: re-set while the wait list or the prioritized set holds a job', () => {
    const patched = markerOnlyWhileJobsWait(moveToActive)!;
    expect(patched.name).toBe(moveToActive.name);
    expect(patched.keys).toBe(moveToActive.keys);
    const line = '  addBaseMarkerIfNeeded(markerKey, false)\n';
    const conditional = '  if rcall("LLEN", KEYS[1]) > 0 or rcall("ZCARD", KEYS[3]) > 0 then\n    addBaseMarkerIfNeeded(markerKey, false)\n  end\n';
    expect(patched.content).not.toBe(moveToActive.content);
    expect(patched.content.split(conditional)).toHaveLength(2);
    expect(patched.content.replace(conditional, line)).toBe(moveToActive.content);
  });

  it('leaves a script it does not recognise alone', () => {
    const variant = (change: Partial<RawCommand>): RawCommand => ({ ...moveToActive, ...change });
    const line = '  addBaseMarkerIfNeeded(markerKey, false)\n';
    expect(markerOnlyWhileJobsWait(variant({ content: moveToActive.content.replace(line, '') }))).toBeUndefined();
    expect(markerOnlyWhileJobsWait(variant({ content: moveToActive.content.replace(line, line + line) }))).toBeUndefined();
    expect(markerOnlyWhileJobsWait(variant({ keys: 12 }))).toBeUndefined();
    expect(markerOnlyWhileJobsWait(variant({ content: moveToActive.content.replace('KEYS[3] prioritized key', 'KEYS[3] paused key') }))).toBeUndefined();
  });
});
