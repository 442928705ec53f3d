// Duplicate member names in JSON text. JSON.parse keeps the last of two equal names silently
// (RFC 8259 section 4 leaves the behaviour open); security-relevant documents that require unique
// names (JOSE headers, RFC 7515 section 4; JWT claims, RFC 7519 section 4) must be refused
// instead. This is a scanner over text JSON.parse has already accepted, not a parser.

/**
 * The first member name that occurs twice in one object of `text` (at any depth), compared after
 * unescaping (`"a\u0075d"` equals `"aud"`), or undefined when every object's names are unique.
 * `text` must be valid JSON (call JSON.parse first); other input gives an unspecified result.
 */
export function findDuplicateMemberName(text: string): string | undefined {
  // One entry per open container: the names seen so far in an object, null for an array.
  const open: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") open.push(new Set());
    else if (c === "[") open.push(null);
    else if (c === "}" || c === "]") open.pop();
    else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++;
      const names = open.at(-1);
      if (names === undefined || names === null) continue;
      let j = i + 1;
      while (j < text.length && " \t\r\n".includes(text[j]!)) j++;
      if (text[j] !== ":") continue; // a string value, not a member name
      const name = JSON.parse(text.slice(start, i + 1)) as string;
      if (names.has(name)) return name;
      names.add(name);
    }
  }
  return undefined;
}
