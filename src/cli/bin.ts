#!/usr/bin/env node
/** The `vkvm` executable (package.json `bin`). */
import { main } from './main.js';

process.exitCode = main(process.argv.slice(2));
