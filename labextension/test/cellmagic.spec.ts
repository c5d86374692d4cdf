import { shell } from '@codemirror/legacy-modes/mode/shell';
import { describe, expect, it } from 'vitest';

import { CONTAINER_CELL_MIME, DOCKERFILE_CELL_MIME, magicMime, underMagicLine } from '../src/cellmagic';
import { dockerfile } from '../src/dockerfile';
import { styleOf, tokenize } from './tokens';

describe('which cells are magic', () => {
  it.each([
    ['%%dockerfile -t web:v1 .\nFROM busybox', DOCKERFILE_CELL_MIME],
    ['%%dockerfile\nFROM busybox', DOCKERFILE_CELL_MIME],
    ['\n  %%dockerfile\nFROM busybox', DOCKERFILE_CELL_MIME],
    ['%%container c1 --from busybox\necho hi', CONTAINER_CELL_MIME],
    ['%%dockerfiles\nFROM busybox', null],
    ['%%bash\necho hi', null],
    ['x = 1\n%%dockerfile', null],
    ['%dockerfile', null],
    ['', null]
  ])('%j → %s', (source, mime) => {
    expect(magicMime(source)).toBe(mime);
  });
});

describe('a language under a magic line', () => {
  it('marks the magic and its flags, then hands the rest to the Dockerfile parser', () => {
    const lines = tokenize(
      underMagicLine(dockerfile),
      ['%%dockerfile -t ouruser/sinatra:v2 --build-arg X=1 .', '# comment', 'FROM busybox', 'RUN <<EOF', 'echo hi', 'EOF'].join('\n')
    );
    expect(styleOf(lines, 0, '%%dockerfile')).toBe('meta');
    expect(styleOf(lines, 0, '-t')).toBe('attributeName');
    expect(styleOf(lines, 0, '--build-arg')).toBe('attributeName');
    expect(styleOf(lines, 0, 'ouruser/sinatra:v2')).toBe('string');
    expect(lines[1]).toEqual([['# comment', 'comment']]);
    expect(styleOf(lines, 2, 'FROM')).toBe('keyword');
    expect(lines[4]).toEqual([['echo hi', 'string']]);
  });

  it('reads a %%container cell as shell', () => {
    const lines = tokenize(underMagicLine(shell), ['%%container c1 --from ouruser/sinatra', 'if true; then echo "hi"; fi'].join('\n'));
    expect(styleOf(lines, 0, '%%container')).toBe('meta');
    expect(styleOf(lines, 0, '--from')).toBe('attributeName');
    expect(styleOf(lines, 1, 'if')).toBe('keyword');
    expect(styleOf(lines, 1, '"hi"')).toBe('string');
  });
});
