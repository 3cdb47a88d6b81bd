"""AI judge: score responses with a model behind any OpenAI-compatible Chat Completions API.

rubrics   rubric definitions and their version hashes
prompts   judge messages with the judged text in a delimited data block
verdicts  JSON schemas of the verdict and the strict parsers of replies
limits    rate limiting, retry delays and the cost budget
cache     the crash-safe on-disk cache of received replies
client    the async client: concurrency, retries, cache and budget
scores    per-call results folded into the responses table
pairwise  pairwise comparisons judged in both orders
"""
