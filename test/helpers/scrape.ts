/** One scrape, parsed into `name{labels}` → value, with labels in their exposition order. */
export class Scrape {
  readonly samples = new Map<string, number>();
  constructor(readonly text: string) {
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const sp = line.lastIndexOf(' ');
      this.samples.set(line.slice(0, sp), Number(line.slice(sp + 1)));
    }
  }

  /** The value of one series, or undefined; `labels` in exposition order. */
  get(name: string, labels: Record<string, string> = {}): number | undefined {
    const entries = Object.entries(labels);
    const key = entries.length === 0 ? name : `${name}{${entries.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
    return this.samples.get(key);
  }

  /** Sum of every series of a name (any labels). */
  sum(name: string): number {
    let total = 0;
    for (const [key, v] of this.samples) {
      const brace = key.indexOf('{');
      if ((brace < 0 ? key : key.slice(0, brace)) === name) total += v;
    }
    return total;
  }

  /** Every series of a name, keyed by its label text. */
  series(name: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const [key, v] of this.samples) {
      if (key === name) out.set('', v);
      else if (key.startsWith(`${name}{`)) out.set(key.slice(name.length), v);
    }
    return out;
  }
}

export async function scrape(baseUrl: string, accept?: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: accept ? { accept } : {} });
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}`);
  return new Scrape(await res.text());
}
