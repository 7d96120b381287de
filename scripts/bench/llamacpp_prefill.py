# Prefill throughput of llama.cpp (through llama-cpp-python) on a GGUF model:
# the text's first 2048 tokens in windows of 512, each from an empty cache,
# as lexico-harvest runs them. Usage: llamacpp_prefill.py MODEL TEXT THREADS
import sys, time, llama_cpp
m = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=512, n_batch=512, n_threads=int(sys.argv[3]), n_threads_batch=int(sys.argv[3]), verbose=False)
text = open(sys.argv[2], encoding="utf-8").read()
toks = m.tokenize(text.encode(), add_bos=False)[:2048]
best = 1e9
for rep in range(3):
    t = time.perf_counter()
    for w in range(0, len(toks), 512):
        m.reset()
        m.eval(toks[w:w+512])
    best = min(best, time.perf_counter() - t)
print(f"llama.cpp {llama_cpp.__version__}: {len(toks)} tokens in windows of 512, best of 3: {len(toks)/best:.1f} tokens/s")
