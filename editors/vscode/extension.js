// The SoFAr extension: highlighting comes from the TextMate grammar; everything else (diagnostics as you
// type, hover, completion, definitions, references, rename, outline, inlay hints, formatting) from the
// language server, `sofar lsp --stdio`, started here.
'use strict';
const { workspace } = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

/** The server command: the `sofar.server.path` setting, else `sofar` from the workspace's node_modules or the PATH. */
function serverCommand() {
  const configured = workspace.getConfiguration('sofar').get('server.path');
  if (configured) return { command: configured, args: ['lsp', '--stdio'] };
  const folder = workspace.workspaceFolders && workspace.workspaceFolders[0];
  if (folder) {
    const local = require('path').join(folder.uri.fsPath, 'node_modules', '.bin', 'sofar');
    if (require('fs').existsSync(local)) return { command: local, args: ['lsp', '--stdio'] };
  }
  return { command: 'sofar', args: ['lsp', '--stdio'] };
}

function activate(context) {
  const run = { ...serverCommand(), transport: TransportKind.stdio };
  client = new LanguageClient('sofar', 'SoFAr', { run, debug: run }, { documentSelector: [{ scheme: 'file', language: 'sofar' }, { scheme: 'untitled', language: 'sofar' }] });
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
