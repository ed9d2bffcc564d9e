/**
 * chevrotain for the browser bundles (scripts/build-web.mjs puts this file in place of ./chevrotain.ts):
 * the bundler resolves the package itself, so the Node-only loading of its single-file build is not
 * needed. Same exports.
 */
export { createToken, Lexer, EmbeddedActionsParser, createSyntaxDiagramsCode } from 'chevrotain';
export const CHEVROTAIN_DIR = '';
