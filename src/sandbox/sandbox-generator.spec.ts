import { entitiesOf, generate, SANDBOX_WORKFLOWS } from './sandbox-generator';

const [contentGenerator, entityExtractor, summarizer] = SANDBOX_WORKFLOWS;

describe('sandbox generator', () => {
  it('content_generator: a title from the first sentence and a body, deterministic', () => {
    const out = generate(contentGenerator, 'write about rivers in spring. They flood.');
    expect(out.title).toBe('Write About Rivers In Spring');
    expect(out.body).toContain('write about rivers in spring. They flood.');
    expect(generate(contentGenerator, 'write about rivers in spring. They flood.')).toEqual(out);
  });

  it('entity_extractor: capitalised words of the prompt, unique, without fillers', () => {
    expect(entitiesOf('The meeting: Ada Lovelace met Charles Babbage in London, then ada went to NASA. London!')).toEqual([
      { name: 'Ada', type: 'proper_noun' },
      { name: 'Lovelace', type: 'proper_noun' },
      { name: 'Charles', type: 'proper_noun' },
      { name: 'Babbage', type: 'proper_noun' },
      { name: 'London', type: 'proper_noun' },
      { name: 'NASA', type: 'organization' },
    ]);
    expect(generate(entityExtractor, 'Paris and Rome')).toMatchObject({ entities: [{ name: 'Paris' }, { name: 'Rome' }] });
  });

  it('summarizer: a standard workflow summary', () => {
    expect(generate(summarizer, 'one two three')).toEqual({ summary: 'one two three', word_count: 3 });
  });
});
