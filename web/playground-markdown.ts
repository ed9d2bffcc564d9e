/**
 * The little Markdown the language service's hovers use, as HTML: fenced code, `---` rules, `- ` lists,
 * paragraphs, and inline code spans and bold. The text is escaped first, so nothing in a spec becomes markup.
 */
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Code spans and bold inside one escaped line (code first, so `**` inside code stays literal). */
function inline(line: string): string {
  return escape(line)
    .split(/(`[^`]*`)/)
    .map((part) => (part.startsWith('`') && part.endsWith('`') && part.length > 1 ? `<code>${part.slice(1, -1)}</code>` : part.replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')))
    .join('');
}

export function markdownToHtml(markdown: string): string {
  const out: string[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('```')) {
      const code: string[] = [];
      while (++i < lines.length && !lines[i].startsWith('```')) code.push(lines[i]);
      out.push(`<pre><code>${escape(code.join('\n'))}</code></pre>`);
    } else if (/^-{3,}\s*$/.test(line)) {
      out.push('<hr>');
    } else if (/^\s*- /.test(line)) {
      const items: string[] = [];
      for (; i < lines.length && /^\s*- /.test(lines[i]); i++) items.push(`<li>${inline(lines[i].replace(/^\s*- /, ''))}</li>`);
      i--;
      out.push(`<ul>${items.join('')}</ul>`);
    } else if (line.trim()) {
      const para: string[] = [line];
      while (i + 1 < lines.length && lines[i + 1].trim() && !/^(```|-{3,}\s*$|\s*- )/.test(lines[i + 1])) para.push(lines[++i]);
      out.push(`<p>${para.map(inline).join(' ')}</p>`);
    }
  }
  return out.join('');
}
