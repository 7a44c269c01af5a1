/**
 * Finds what Go's json.Decoder looks at in a request body and JSON.parse cannot tell us: where the
 * first JSON value ends (Decode reads one value and ignores whatever follows it) and the source
 * text of each member of a top-level object (Go refuses `1.0` or `1e3` for an int field, while
 * JSON.parse turns them into the integer 1 and 1000). Only locates; JSON.parse does the validating.
 */

export interface ScannedBody {
  /** The text of the first JSON value (up to the end of the text when it is unterminated). */
  first: string;
  /** Top-level object only: member name (unescaped) → source text of its value; last one wins. */
  members: Map<string, string>;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

export function scanFirstValue(text: string): ScannedBody {
  const members = new Map<string, string>();
  let start = 0;
  while (start < text.length && WHITESPACE.has(text[start]!)) start += 1;
  const end = scanValue(text, start, members);
  return { first: text.slice(0, end), members };
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && WHITESPACE.has(text[i]!)) i += 1;
  return i;
}

/** Index just past the string starting at `i` (which holds the opening quote). */
function scanString(text: string, i: number): number {
  i += 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else i += 1;
  }
  return text.length;
}

/**
 * Index just past the value starting at `i`. When `members` is given and the value is an object,
 * its members' source texts are recorded there (for the top level only).
 */
function scanValue(text: string, i: number, members?: Map<string, string>): number {
  const c = text[i];
  if (c === undefined) return i;
  if (c === '"') return scanString(text, i);
  if (c === '{' || c === '[') {
    const close = c === '{' ? '}' : ']';
    i = skipSpace(text, i + 1);
    if (text[i] === close) return i + 1;
    while (i < text.length) {
      let name: string | undefined;
      if (c === '{') {
        if (text[i] !== '"') return text.length; // malformed: let JSON.parse report it
        const nameEnd = scanString(text, i);
        name = decodeName(text.slice(i, nameEnd));
        i = skipSpace(text, nameEnd);
        if (text[i] !== ':') return text.length;
        i = skipSpace(text, i + 1);
      }
      const valueStart = i;
      i = scanValue(text, i);
      if (members !== undefined && name !== undefined) members.set(name, text.slice(valueStart, i));
      i = skipSpace(text, i);
      if (text[i] === ',') i = skipSpace(text, i + 1);
      else if (text[i] === close) return i + 1;
      else return text.length;
    }
    return text.length;
  }
  // Numbers and the literals true, false, null.
  while (i < text.length && /[-+.0-9a-zA-Z]/.test(text[i]!)) i += 1;
  return i;
}

function decodeName(quoted: string): string | undefined {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return undefined;
  }
}
