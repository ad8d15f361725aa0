#!/usr/bin/env node
// The CLI, compiled: `npm install` builds dist/ (the `prepare` script), as `npm run build` does.
await import('../dist/src/cli/main.js');
