#!/usr/bin/env node
// The CLI is TypeScript run through tsx (no build step): register tsx, resolved from this
// package rather than the caller's directory, then load the entry point.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
