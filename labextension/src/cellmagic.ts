/**
 * Cell magics as languages: a `%%dockerfile` cell is a Dockerfile under one magic line, a
 * `%%container` cell a shell script. The kernel's language (Python) cannot parse them, so such
 * a cell gets a mime type of its own while its first line names the magic.
 */
import type { StreamParser, StringStream } from '@codemirror/language';

export const DOCKERFILE_MIME = 'text/x-dockerfile';
export const DOCKERFILE_CELL_MIME = 'text/x-nbdocker-dockerfile-cell';
export const CONTAINER_CELL_MIME = 'text/x-nbdocker-container-cell';

/** The cell magics that change a cell's language, by the mime type they give it. */
export const CELL_MAGICS: ReadonlyArray<{ magic: string; mime: string }> = [
  { magic: 'dockerfile', mime: DOCKERFILE_CELL_MIME },
  { magic: 'container', mime: CONTAINER_CELL_MIME }
];

/** Our own cell mime types (to tell them from the kernel's). */
export const MAGIC_MIMES = new Set(CELL_MAGICS.map(m => m.mime));

/**
 * The mime type a cell's source asks for: ours when its first line is `%%dockerfile …` or
 * `%%container …` (leading blank lines allowed, as IPython allows them), else null.
 */
export function magicMime(source: string): string | null {
  const first = /^\s*%%([A-Za-z_]\w*)(?=\s|$)/.exec(source);
  if (!first) {
    return null;
  }
  return CELL_MAGICS.find(m => m.magic === first[1])?.mime ?? null;
}

export interface IMagicState<S> {
  /** Still on the magic's own line. */
  magicLine: boolean;
  inner: S;
}

/** Read the magic line's words: the magic itself, its flags, their values. */
function magicLineToken(stream: StringStream): string | null {
  if (stream.eatSpace()) {
    return null;
  }
  if (stream.match(/^%%[A-Za-z_]\w*/)) {
    return 'meta';
  }
  if (stream.match(/^--?[A-Za-z][\w-]*/)) {
    return 'attributeName';
  }
  if (stream.match(/^"(?:[^"\\]|\\.)*"?/) || stream.match(/^'[^']*'?/)) {
    return 'string';
  }
  if (stream.match(/^=/)) {
    return 'operator';
  }
  stream.match(/^[^\s"'=]+/);
  return 'string';
}

/** ``inner`` under a leading magic line (`%%dockerfile -t name .`). */
export function underMagicLine<S>(inner: StreamParser<S>): StreamParser<IMagicState<S>> {
  return {
    name: inner.name,
    startState: indentUnit => ({
      magicLine: true,
      inner: inner.startState ? inner.startState(indentUnit) : ({} as S)
    }),
    copyState: state => ({
      magicLine: state.magicLine,
      inner: inner.copyState ? inner.copyState(state.inner) : { ...state.inner }
    }),
    token: (stream, state) => {
      if (state.magicLine) {
        const style = magicLineToken(stream);
        if (stream.eol() && style !== null) {
          state.magicLine = false;
        } else if (stream.eol()) {
          state.magicLine = false;
        }
        return style;
      }
      return inner.token(stream, state.inner);
    },
    blankLine: (state, indentUnit) => {
      if (state.magicLine) {
        return; // blank lines before the magic line
      }
      inner.blankLine?.(state.inner, indentUnit);
    },
    indent: inner.indent
      ? (state, textAfter, context) => inner.indent!(state.inner, textAfter, context)
      : undefined,
    languageData: inner.languageData
  };
}
