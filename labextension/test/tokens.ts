/** Run a CodeMirror stream parser over a text the way StreamLanguage does, line by line. */
import { StreamParser, StringStream } from '@codemirror/language';

export type Token = [text: string, style: string | null];

export function tokenize<S>(parser: StreamParser<S>, text: string): Token[][] {
  const state = parser.startState!(2);
  const lines: Token[][] = [];
  for (const line of text.split('\n')) {
    const tokens: Token[] = [];
    if (line === '') {
      parser.blankLine?.(state, 2);
    }
    const stream = new StringStream(line, 4, 2);
    while (!stream.eol()) {
      stream.start = stream.pos;
      const style = parser.token(stream, state);
      if (stream.pos === stream.start) {
        throw new Error(`the parser did not advance at ${line.slice(stream.pos)}`);
      }
      tokens.push([line.slice(stream.start, stream.pos), style]);
    }
    lines.push(tokens.filter(([text, style]) => style !== null || text.trim() !== ''));
  }
  return lines;
}

/** The style of the first token with exactly this text on line ``line`` (0-based). */
export function styleOf(lines: Token[][], line: number, text: string): string | null | undefined {
  return lines[line].find(([t]) => t === text)?.[1];
}
