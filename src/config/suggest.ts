/**
 * Finds the known word a typo most likely meant (`sercet` → `secret`), or undefined when nothing
 * is close enough to be a helpful guess.
 */
export function closestMatch(typo: string, known: readonly string[]): string | undefined {
  // Allow about one edit per three letters: enough for typos, too few to suggest unrelated keys.
  const limit = Math.max(1, Math.floor(typo.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const word of known) {
    const distance = editDistance(typo.toLowerCase(), word.toLowerCase());
    if (distance <= limit && distance < bestDistance) {
      best = word;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Number of single-letter insertions, deletions, substitutions or swaps of two neighbours that
 * turn `a` into `b` (optimal string alignment distance). Swaps count as one edit because swapped
 * letters are the most common typo.
 */
export function editDistance(a: string, b: string): number {
  // rows[i][j] = distance between the first i letters of a and the first j letters of b.
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const above = rows[i - 1]!;
      let distance = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      }
      row.push(distance);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
