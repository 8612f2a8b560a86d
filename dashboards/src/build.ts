// `npm run dashboards:build`: writes every board's JSON under dashboards/generated/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boards, renderBoard } from './index.js';

const out = join(process.cwd(), 'dashboards', 'generated');
mkdirSync(out, { recursive: true });
for (const board of boards) {
  writeFileSync(join(out, board.file), renderBoard(board.build()));
  process.stdout.write(`wrote dashboards/generated/${board.file}\n`);
}
