import { describe, expect, it } from 'vitest';

import { dockerfile, isDockerfilePath } from '../src/dockerfile';
import { styleOf, tokenize } from './tokens';

describe('the Dockerfile parser', () => {
  it('tells instructions, comments, strings and flags apart', () => {
    const lines = tokenize(
      dockerfile,
      [
        '# This is a comment',
        'FROM debian:bookworm AS base',
        'MAINTAINER Docker Newbee <newbee@docker.com>',
        'RUN apt-get -qq update',
        'COPY --chown=1000:1000 --chmod=644 app.txt /app/',
        'ENV GREETING="hello world" NAME=$USER',
        'EXPOSE 4567/tcp',
        'CMD ["ruby", "/app/app.rb"]'
      ].join('\n')
    );
    expect(lines[0]).toEqual([['# This is a comment', 'comment']]);
    expect(styleOf(lines, 1, 'FROM')).toBe('keyword');
    expect(styleOf(lines, 1, 'AS')).toBe('keyword');
    expect(styleOf(lines, 1, 'base')).toBe('variableName.definition');
    expect(styleOf(lines, 2, 'MAINTAINER')).toBe('keyword');
    expect(styleOf(lines, 3, 'RUN')).toBe('keyword');
    // `-qq` is the command's flag, not the instruction's: plain text.
    expect(styleOf(lines, 3, '-qq')).toBeNull();
    expect(styleOf(lines, 4, '--chown')).toBe('attributeName');
    expect(styleOf(lines, 4, '--chmod')).toBe('attributeName');
    expect(styleOf(lines, 5, '"hello world"')).toBe('string');
    expect(styleOf(lines, 5, '$USER')).toBe('variableName.special');
    expect(styleOf(lines, 6, '4567/tcp')).toBe('number');
    expect(styleOf(lines, 7, '"ruby"')).toBe('string');
    expect(styleOf(lines, 7, '[')).toBe('squareBracket');
  });

  it('reads instructions in any case and marks unknown ones', () => {
    const lines = tokenize(dockerfile, 'from busybox\nFORM busybox');
    expect(styleOf(lines, 0, 'from')).toBe('keyword');
    expect(styleOf(lines, 1, 'FORM')).toBe('invalid');
  });

  it('continues an instruction past an escaped newline, comments inside included', () => {
    const lines = tokenize(
      dockerfile,
      ['RUN apt-get update && \\', '    # a comment inside', '    apt-get install -y ruby', 'USER app'].join('\n')
    );
    expect(styleOf(lines, 0, '\\')).toBe('escape');
    expect(lines[1]).toEqual([['# a comment inside', 'comment']]);
    // `apt-get` on the continued line is an argument, not an instruction.
    expect(styleOf(lines, 2, 'apt-get')).toBeNull();
    expect(styleOf(lines, 3, 'USER')).toBe('keyword');
  });

  it('honours the escape directive', () => {
    const lines = tokenize(dockerfile, ['# escape=`', 'RUN dir c:\\ `', '  && echo done', 'WORKDIR c:\\app'].join('\n'));
    expect(lines[0]).toEqual([['# escape=`', 'meta']]);
    expect(styleOf(lines, 1, '`')).toBe('escape');
    expect(styleOf(lines, 3, 'WORKDIR')).toBe('keyword');
  });

  it('reads a heredoc body as a string up to its delimiter', () => {
    const lines = tokenize(
      dockerfile,
      [
        'RUN <<EOF',
        'apt-get update',
        '',
        'RUN is not an instruction here',
        'EOF',
        'COPY <<-"END" /etc/motd',
        '\thello',
        '\tEND',
        'CMD ["sh"]'
      ].join('\n')
    );
    expect(styleOf(lines, 0, '<<EOF')).toBe('labelName');
    expect(lines[1]).toEqual([['apt-get update', 'string']]);
    expect(lines[3]).toEqual([['RUN is not an instruction here', 'string']]);
    expect(lines[4]).toEqual([['EOF', 'labelName']]);
    expect(styleOf(lines, 5, '<<-"END"')).toBe('labelName');
    expect(lines[6]).toEqual([['\thello', 'string']]);
    expect(lines[7]).toEqual([['\tEND', 'labelName']]);
    expect(styleOf(lines, 8, 'CMD')).toBe('keyword');
  });

  it('reads two heredocs of one instruction one after the other', () => {
    const lines = tokenize(dockerfile, ['COPY <<A <<B /dest/', 'one', 'A', 'two', 'B', 'RUN true'].join('\n'));
    expect(lines[1]).toEqual([['one', 'string']]);
    expect(lines[2]).toEqual([['A', 'labelName']]);
    expect(lines[3]).toEqual([['two', 'string']]);
    expect(lines[4]).toEqual([['B', 'labelName']]);
    expect(styleOf(lines, 5, 'RUN')).toBe('keyword');
  });

  it('is not fooled by << in an instruction that takes no heredoc', () => {
    const lines = tokenize(dockerfile, ['ENV X=<<EOF', 'RUN true'].join('\n'));
    expect(styleOf(lines, 1, 'RUN')).toBe('keyword');
  });

  it('keeps a quoted string open across a continued line', () => {
    const lines = tokenize(dockerfile, ['LABEL description="one \\', 'two"', 'RUN true'].join('\n'));
    expect(lines[1]).toEqual([['two"', 'string']]);
    expect(styleOf(lines, 2, 'RUN')).toBe('keyword');
  });
});

describe('Dockerfile names', () => {
  it.each([
    ['Dockerfile', true],
    ['app/Dockerfile', true],
    ['Dockerfile.dev', true],
    ['web.dockerfile', true],
    ['Containerfile', true],
    ['Dockerfile-notes.md', false],
    ['notes.txt', false],
    ['mydockerfile', false]
  ])('%s → %s', (path, expected) => {
    expect(isDockerfilePath(path)).toBe(expected);
  });
});
