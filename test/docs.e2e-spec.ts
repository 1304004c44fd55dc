import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from './helpers/app-process';

/**
 * The documentation stands alone: a clone has every file it links to, and the README lists every setting. Checked:
 * the README and every Markdown file in bench/ and docs/, so a note added there is checked without listing it here.
 */
const DOCS = [
  'README.md',
  ...['bench', 'docs'].flatMap((folder) => readdirSync(join(REPO_ROOT, folder)).map((file) => `${folder}/${file}`)),
].filter((file) => file.endsWith('.md'));

/** GitHub's heading anchors: lower case, punctuation dropped (hyphens and underscores kept), spaces → hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const anchorsOf = (markdown: string) =>
  new Set(
    markdown
      .replace(/^```[\s\S]*?^```/gm, '')
      .split('\n')
      .filter((line) => /^#{1,6} /.test(line))
      .map((line) => slug(line.replace(/^#+ /, ''))),
  );

const linksOf = (markdown: string) =>
  [...markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]).filter((target) => !/^(https?|mailto):/.test(target));

describe('documentation', () => {
  it.each(DOCS)('%s links only to files in this repository, and to headings that exist', (file) => {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    const broken: string[] = [];
    for (const link of linksOf(text)) {
      const [path, anchor] = link.split('#');
      const target = path ? resolve(dirname(join(REPO_ROOT, file)), path) : join(REPO_ROOT, file);
      if (relative(REPO_ROOT, target).startsWith('..') || !existsSync(target)) {
        broken.push(`${link}: no such file in the repository`);
        continue;
      }
      if (anchor && target.endsWith('.md') && !anchorsOf(readFileSync(target, 'utf8')).has(anchor)) broken.push(`${link}: no such heading`);
    }
    expect(broken).toEqual([]);
    expect(text).not.toMatch(/\.\.\/shared\//);
  });

  it("lists every environment variable in the README's configuration table", () => {
    const source = readFileSync(join(REPO_ROOT, 'src/config/environment.ts'), 'utf8');
    const body = source.slice(source.indexOf('export class EnvironmentVariables'));
    const variables = [...body.slice(0, body.indexOf('\n}\n')).matchAll(/^ {2}([A-Z][A-Z0-9_]+)[?!]?(?::| =)/gm)].map((match) => match[1]);
    expect(variables.length).toBeGreaterThan(30);
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 5));
    expect(variables.filter((name) => !table.includes(`\`${name}\``))).toEqual([]);
  });
});
