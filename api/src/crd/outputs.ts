/** Every generated file of the repository, by path relative to the repository root. */
import { renderCrds } from './render.js';
import { renderReference } from './reference.js';

export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [name, content] of renderCrds()) files.set(`crds/${name}`, content);
  files.set('docs/crd-reference.md', renderReference());
  return files;
}
