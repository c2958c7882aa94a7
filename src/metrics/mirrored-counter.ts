import { Counter, type Registry } from 'prom-client';

/**
 * A counter that mirrors a cumulative count kept elsewhere (a component's stats): each scrape
 * sets it to `read()`, so nothing is copied between scrapes and the two can never drift.
 */
export function mirroredCounter(registers: Registry[], name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
