/**
 * A CodeMirror 6 stream parser for Dockerfiles: instructions, flags, strings, variables,
 * comments, parser directives, line continuations, JSON (exec) forms and heredocs.
 *
 * CodeMirror's legacy Dockerfile mode knows no heredocs (`RUN <<EOF` … `EOF`), which BuildKit
 * and nbdocker build; this one does. Token names are CodeMirror's standard highlight tags, so
 * JupyterLab's theme colours them like any other language.
 */
import type { StreamParser, StringStream } from '@codemirror/language';

/** Every instruction of the Dockerfile reference (MAINTAINER included: the tutorial uses it). */
export const INSTRUCTIONS = new Set([
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR'
]);

interface IHeredoc {
  delimiter: string;
  stripTabs: boolean;
}

export interface IDockerfileState {
  /** The next word starts an instruction (not inside a continued instruction). */
  atInstruction: boolean;
  /** The instruction being read (upper case), or '' between instructions. */
  instruction: string;
  /** The current line has had a token. */
  lineHasToken: boolean;
  /** The last line ended with the escape character: the instruction goes on. */
  continued: boolean;
  /** The line being read continues an instruction (a comment line keeps that going). */
  carried: boolean;
  /** Heredocs opened on the current line, read after it. */
  pending: IHeredoc[];
  /** The heredoc whose body is being read. */
  heredoc: IHeredoc | null;
  /** The escape character (`\` unless a `# escape=` directive says otherwise). */
  escape: string;
  /** Parser directives may still come (only comments seen so far). */
  directives: boolean;
  /** A quoted string that goes on past the end of the line. */
  quote: string;
  /** Inside `FROM`, the word after `AS` names the stage. */
  expectStageName: boolean;
}

const HEREDOC = /^<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/;
const FLAG = /^--[A-Za-z][A-Za-z0-9-]*/;
const VARIABLE = /^\$(\{[^}\s]*\}?|[A-Za-z_][A-Za-z0-9_]*)/;

function endOfLine(state: IDockerfileState): void {
  if (!state.continued) {
    state.atInstruction = state.pending.length === 0;
    if (state.pending.length === 0) {
      state.instruction = '';
    }
  }
  if (state.pending.length > 0 && !state.continued) {
    state.heredoc = state.pending.shift() ?? null;
  }
}

function readString(stream: StringStream, state: IDockerfileState): string {
  const quote = state.quote;
  while (!stream.eol()) {
    const ch = stream.next();
    if (ch === state.escape || (ch === '\\' && quote === '"')) {
      stream.next();
    } else if (ch === quote) {
      state.quote = '';
      return 'string';
    }
  }
  return 'string';
}

function token(stream: StringStream, state: IDockerfileState): string | null {
  if (stream.sol()) {
    state.lineHasToken = false;
    if (state.heredoc !== null) {
      const heredoc = state.heredoc;
      const line = heredoc.stripTabs ? stream.string.replace(/^\t+/, '') : stream.string;
      stream.skipToEnd();
      if (line === heredoc.delimiter) {
        state.heredoc = state.pending.shift() ?? null;
        if (state.heredoc === null) {
          state.atInstruction = true;
          state.instruction = '';
        }
        return 'labelName';
      }
      return 'string';
    }
    if (!state.continued && state.quote === '') {
      state.atInstruction = true;
    }
    state.carried = state.continued;
    state.continued = false;
  }
  const result = tokenInLine(stream, state);
  if (stream.current().trim() !== '') {
    state.lineHasToken = true;
  }
  if (stream.eol()) {
    endOfLine(state);
  }
  return result;
}

function tokenInLine(stream: StringStream, state: IDockerfileState): string | null {
  if (state.quote !== '') {
    return readString(stream, state);
  }
  if (stream.eatSpace()) {
    return null;
  }
  // A comment: a line whose first non-blank is '#' (also inside a continued instruction).
  if (!state.lineHasToken && stream.peek() === '#') {
    if (state.directives) {
      const directive = stream.match(/^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$/, false) as
        | RegExpMatchArray
        | null;
      if (directive && ['syntax', 'escape', 'check'].includes(directive[1].toLowerCase())) {
        if (directive[1].toLowerCase() === 'escape') {
          state.escape = directive[2];
        }
        stream.skipToEnd();
        return 'meta';
      }
    }
    state.directives = false;
    stream.skipToEnd();
    state.continued = state.carried; // BuildKit drops comment lines inside an instruction
    return 'comment';
  }
  state.directives = false;
  // The escape character at the end of a line: the instruction continues.
  if (stream.peek() === state.escape && /^.\s*$/.test(stream.string.slice(stream.pos))) {
    stream.skipToEnd();
    state.continued = true;
    return 'escape';
  }
  if (state.atInstruction) {
    state.atInstruction = false;
    const word = stream.match(/^[A-Za-z]+/) as RegExpMatchArray | null;
    if (word) {
      const name = word[0].toUpperCase();
      state.instruction = name;
      if (name === 'ONBUILD') {
        state.atInstruction = true;
      }
      return INSTRUCTIONS.has(name) ? 'keyword' : 'invalid';
    }
  }
  if (stream.match(FLAG)) {
    return 'attributeName';
  }
  if (['RUN', 'COPY', 'ADD'].includes(state.instruction)) {
    const heredoc = stream.match(HEREDOC) as RegExpMatchArray | null;
    if (heredoc) {
      state.pending.push({ delimiter: heredoc[3], stripTabs: heredoc[1] === '-' });
      return 'labelName';
    }
  }
  const ch = stream.peek() ?? '';
  if (ch === '"' || ch === "'") {
    stream.next();
    state.quote = ch;
    return readString(stream, state);
  }
  if (stream.match(VARIABLE)) {
    return 'variableName.special';
  }
  if (ch === '[' || ch === ']' || ch === ',') {
    stream.next();
    return ch === ',' ? 'punctuation' : 'squareBracket';
  }
  if (ch === '=') {
    stream.next();
    return 'operator';
  }
  if (state.instruction === 'FROM') {
    if (state.expectStageName) {
      state.expectStageName = false;
      stream.match(/^[^\s]+/);
      return 'variableName.definition';
    }
    if (stream.match(/^[Aa][Ss](?=\s)/)) {
      state.expectStageName = true;
      return 'keyword';
    }
  }
  if (state.instruction === 'EXPOSE' && stream.match(/^\d+(-\d+)?(\/(tcp|udp|sctp))?(?=\s|$)/)) {
    return 'number';
  }
  // A plain word: up to a space, a quote, a variable or the escape character.
  stream.next();
  while (!stream.eol()) {
    const next = stream.peek() ?? '';
    if (/[\s"'$=[\],]/.test(next) || next === state.escape) {
      break;
    }
    stream.next();
  }
  return null;
}

export const dockerfile: StreamParser<IDockerfileState> = {
  name: 'dockerfile',
  startState: () => ({
    atInstruction: true,
    instruction: '',
    lineHasToken: false,
    continued: false,
    carried: false,
    pending: [],
    heredoc: null,
    escape: '\\',
    directives: true,
    quote: '',
    expectStageName: false
  }),
  copyState: state => ({
    ...state,
    pending: state.pending.map(h => ({ ...h })),
    heredoc: state.heredoc ? { ...state.heredoc } : null
  }),
  token,
  blankLine: state => {
    // A blank line inside a heredoc is part of its body; elsewhere it ends nothing
    // (a continued instruction goes on past blank lines, as in BuildKit).
    state.lineHasToken = false;
    if (state.heredoc === null) {
      endOfLine(state);
    }
  },
  languageData: {
    commentTokens: { line: '#' }
  }
};

/** Whether a file is a Dockerfile by its name: `Dockerfile`, `Dockerfile.dev`, `web.dockerfile`
 * (and Podman's `Containerfile`). */
export function isDockerfilePath(path: string): boolean {
  const name = path.split('/').pop() ?? '';
  return /^(Dockerfile|Containerfile)(\..+)?$/i.test(name) || /\.(dockerfile|containerfile)$/i.test(name);
}

/** File name patterns for the editor's language registry (see index.ts). */
export const DOCKERFILE_NAME = /^(Dockerfile|Containerfile)(\..+)?$/i;
