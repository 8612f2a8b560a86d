// Debian's Chromium under playwright-core, launched the one way the tests and bench/ui.ts need:
// headless, no sandbox (the suite runs as root in a container), and none of the background
// traffic (component updates, sync, first-run pages) that would race the page under test.
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A headless /usr/bin/chromium; the caller closes it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS] });
}
