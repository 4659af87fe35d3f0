"""The texts tests share: the app's default sentence, a cheap one for sweeps, and varied texts for parity tests
(plain English, the chapter's examples, punctuation, digits, emoji, CJK, accented text and one long passage of
300+ tokens)."""

FLUFFY = "a fluffy blue creature roamed the verdant forest"
DEFAULT_TEXT = FLUFFY  # the app's default sentence
SHORT_TEXT = "one mole of carbon"  # 4 tokens: the cheapest real sweep (270 heads)

LONG = (
    "Attention lets every token look at the others and decide what matters. "
    "In a transformer, each token starts as an embedding that encodes only the word itself, and the "
    "attention blocks move these vectors so that they come to encode meaning in context: a mole in a "
    "chemistry lab is not a mole in a garden, and a model must tell them apart. "
    "Each head computes queries and keys, compares them with dot products, scales the result, masks "
    "the future when it predicts the next token, and normalizes each row with a softmax. "
    "The weighted values then add a small change to each embedding, and dozens of heads in parallel, "
    "layer after layer, refine what every position means. "
) * 3

TEXTS: list[str] = [
    "a fluffy blue creature roamed the verdant forest",
    "American shrew mole",
    "One mole of carbon dioxide",
    "Take a biopsy of the mole",
    "The Eiffel Tower is located in the city of",
    "Harry Potter raised his wand and said",
    "They fought the war, and then they went home.",
    "Wait... what?! No -- that's (really) [not] {fine}; right?",
    "In 1969, 3 astronauts flew 384,400 km; pi is 3.14159 and 2+2=4.",
    "I love pizza 🍕 and cats 🐱🐈 so much ❤️!",
    "東京は日本の首都です。北京是中国的首都。",
    "Café crème, naïve façade, Ærøskøbing, São Paulo, über-cool résumé.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "   leading and trailing spaces   ",
    "ALL CAPS SENTENCE WITH SHOUTING",
    "Line one\nLine two\tTabbed\r\nWindows line",
    "Привет, как дела? Γειά σου κόσμε. مرحبا بالعالم",
    "e = mc² ≈ ∑ ∫ √2 ≠ ∞ → ←",
    "<img src=x onerror=alert(1)> <script>alert('x')</script>",
    "The quick brown fox jumps over the lazy dog. " * 4,
    "word",
    LONG,
]
