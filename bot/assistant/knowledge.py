"""The knowledge base: guidance documents and the curated articles built from them.

Content lives in ``knowledge/`` as data files; this module loads it, validates it (the validator
names the file and field of every problem) and keeps placeholder text away from parents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.assistant import replies, service
from bot.contract import article_for_intent, intent_for_article
from bot.settings import ROOT

KNOWLEDGE_DIR = ROOT / "knowledge"

# Web-page template text left in a page by its editor. A section whose heading or text matches
# is placeholder, not guidance.
PLACEHOLDER_PATTERNS = [
    re.compile(r"lorem ipsum", re.I),
    re.compile(r"consectetur adipiscing", re.I),
    re.compile(r"add your heading text here", re.I),
    re.compile(r"^\s*this is the heading\s*$", re.I | re.M),
    re.compile(r"^\s*\?{2,}\s*$", re.M),
]

ARTICLE_FIELDS = (
    "id",
    "title",
    "guidance",
    "section",
    "answer",
    "summary",
    "quote",
    "related",
    "questions",
)
MAX_ANSWER_WORDS = 120
MAX_SUMMARY_WORDS = 40
FOLLOW_UP_KEYS = ("how", "refused", "when", "who", "next")
STAGE_KEYS = ("early-years", "school", "post-16")
BEYOND_PREFIX = "beyond:"
# The service's details an article may show under its answer (``service:``; the words of each line
# are contact.<field> in knowledge/replies.yml); a factsheet is named ``factsheets.<id>``.
CONTACT_FIELDS = ("phone", "email", "website", "local_offer", "find_another")
FACTSHEET_PREFIX = "factsheets."

# "Must" and the words that mean the same. An article may say one of these only where one of its
# own quotes says "must" (or a legal duty) about the same thing: the guidance's "should" stays
# "should". A sentence and a quote are about the same thing when they share MIN_SHARED_WORDS
# content words.
DUTY_IN_ARTICLE = re.compile(
    r"\b(?:must|ha(?:ve|s|d) to|required (?:to|by law)|legally|legal duty|compulsory)\b", re.I
)
DUTY_IN_QUOTE = re.compile(r"\b(?:musts?|legally|legal duty|required|compulsory)\b", re.I)
MIN_SHARED_WORDS = 2
CHECKED_TEXTS = ("answer", "summary", "detail")
_LIST_MARKER = re.compile(r"^\s*(?:[-\u2022*]|\d+[.)])\s+")
# Words too common to say what a sentence is about (apostrophes are dropped before the look-up);
# modal verbs are judged separately.
STOP_WORDS = frozenset(
    """a an and are as at be been being but by can could do does dont for from had has have he
    her him his how i if in into is it its may might more most must no not of on or our own she
    should so than that the their them then there these they this those to too up us was we were
    what when where whether which who will with would you your yours also any all just very
    about some here other only each thing things""".split()
)
# Each sentence of an answer, summary or detail rests on a quote of its article: at least
# MIN_SUPPORT of its content words (glosses in brackets left out) are in one quote, or the article
# names the quote's words it puts plainly (``paraphrases``). A sentence of fewer than two content
# words ("Still a no?", "It may include:") needs nothing.
MIN_SUPPORT = 0.5
_GLOSS = re.compile(r"\([^)]*\)")


def contains_placeholder(text: str) -> bool:
    return any(p.search(text) for p in PLACEHOLDER_PATTERNS)


def normalise_for_quotes(text: str) -> str:
    """Compare text as a reader would: curly quotes as straight ones, any run of space as one."""
    text = text.replace("\u2018", "'").replace("\u2019", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip()


class KnowledgeError(Exception):
    """The knowledge base has problems; ``problems`` lists each as 'file: field: what'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def sentences(text: str) -> list[str]:
    """The sentences of ``text``: each line at least one, list markers left out."""
    found = []
    for line in str(text).splitlines():
        line = _LIST_MARKER.sub("", line).strip()
        found += [part for part in re.split(r"(?<=[.?!])\s+|(?<=[.?!]\))\s+", line) if part]
    return found


def content_words(text: str) -> set[str]:
    """The words that say what ``text`` is about, cut to five letters so that "involve",
    "involved" and "involving" are one word."""
    words = re.findall(r"[a-z0-9\u00a3]+", normalise_for_quotes(text).lower().replace("'", ""))
    return {w[:5] for w in words if w not in STOP_WORDS and len(w) > 2}


@dataclass
class Section:
    heading: str
    text: str
    placeholder: bool

    @property
    def paragraphs(self) -> list[str]:
        return [normalise_for_quotes(p) for p in re.split(r"\n\s*\n", self.text) if p.strip()]


@dataclass
class GuidanceDocument:
    id: str
    title: str
    path: Path
    text: str
    sections: list[Section]
    publisher: str = ""  # who publishes the guidance page, named in every source line
    url: str = ""  # the guidance page
    # word -> the guidance sentence that says it with "should", where another says it with "must"
    should_not_must: dict[str, str] = field(default_factory=dict)

    @property
    def content_sections(self) -> list[Section]:
        """The sections a parent may see: never the placeholders."""
        return [s for s in self.sections if not s.placeholder]

    @property
    def placeholder_sections(self) -> list[Section]:
        return [s for s in self.sections if s.placeholder]

    def section(self, heading: str) -> Section | None:
        return next((s for s in self.sections if s.heading == heading), None)

    def supports(self, quote: str) -> bool:
        """True when the quote is verbatim in the document's real (non-placeholder) content."""
        wanted = normalise_for_quotes(quote)
        return any(
            wanted in normalise_for_quotes(s.heading + "\n" + s.text) for s in self.content_sections
        )


@dataclass
class Article:
    id: str
    title: str
    guidance: str
    section: str
    answer: str
    quotes: list[str]
    related: list[str]
    questions: list[str]
    detail: str = ""
    summary: str = ""  # one or two sentences, for a message that asks several things
    follow_ups: dict[str, str] = field(default_factory=dict)  # kind -> article id or beyond:topic
    stage_notes: dict[str, str] = field(default_factory=dict)  # stage -> a line for that stage
    service: list[str] = field(default_factory=list)  # the service's details shown under it
    path: Path | None = None

    @property
    def intent(self) -> str:
        return intent_for_article(self.id)


@dataclass
class KnowledgeBase:
    guidance: dict[str, GuidanceDocument]
    articles: dict[str, Article] = field(default_factory=dict)
    service: service.Details | None = None  # knowledge/service.yml

    def article(self, article_id: str) -> Article | None:
        return self.articles.get(article_id)

    def article_for_intent(self, intent: str | None) -> Article | None:
        article_id = article_for_intent(intent)
        return self.articles.get(article_id) if article_id else None

    def source_line(self, article: Article) -> str:
        doc = self.guidance[article.guidance]
        return replies.text(
            "answer.source",
            title=doc.title,
            section=article.section,
            publisher=doc.publisher,
            url=doc.url,
        )

    def contact_lines(self, article: Article, hours: str) -> str:
        """The service's details the article lists (``service:``), a line each, or ""."""
        lines = []
        for name in article.service:
            if name.startswith(FACTSHEET_PREFIX) and self.service is not None:
                sheet = self.service.value(name) or {}
                lines.append(
                    replies.text("contact.factsheet", title=sheet["title"], url=sheet["url"])
                )
            elif name == "phone":
                lines.append(replies.text("contact.phone", hours=hours))
            else:
                lines.append(replies.text(f"contact.{name}"))
        return "\n".join(lines)


def _read_yaml(path: Path, problems: list[str]) -> dict | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problems.append(f"{path}:{where}: not valid YAML ({getattr(error, 'problem', error)})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a mapping of fields, found {type(data).__name__}")
        return None
    return data


def load_guidance(meta_path: Path, problems: list[str]) -> GuidanceDocument | None:
    meta = _read_yaml(meta_path, problems)
    if meta is None:
        return None
    required = ("id", "title", "file", "headings", "publisher", "url")
    for name in required:
        if not meta.get(name):
            problems.append(f"{meta_path}: {name}: missing")
    if any(not meta.get(n) for n in required):
        return None
    if not re.match(r"^https?://\S+$", str(meta["url"])):
        problems.append(f"{meta_path}: url: '{meta['url']}' is not a link starting https://")
    text_path = meta_path.parent / meta["file"]
    if not text_path.is_file():
        problems.append(f"{meta_path}: file: {text_path.name} does not exist beside it")
        return None
    text = text_path.read_text(encoding="utf-8")
    lines = text.splitlines()
    starts: list[tuple[int, str]] = []
    cursor = 0
    for heading in meta["headings"]:
        index = next(
            (i for i in range(cursor, len(lines)) if lines[i].strip() == str(heading).strip()),
            None,
        )
        if index is None:
            problems.append(
                f"{meta_path}: headings: '{heading}' is not a line of {text_path.name} "
                "(after the heading before it); headings must be listed in document order"
            )
            continue
        starts.append((index, str(heading).strip()))
        cursor = index + 1
    sections = []
    for n, (index, heading) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        body = "\n".join(lines[index + 1 : end]).strip()
        sections.append(
            Section(heading, body, contains_placeholder(heading) or contains_placeholder(body))
        )
    doc = GuidanceDocument(
        meta["id"],
        meta["title"],
        text_path,
        text,
        sections,
        publisher=str(meta["publisher"]).strip(),
        url=str(meta["url"]).strip(),
    )
    weaker = meta.get("should_not_must") or {}
    if not isinstance(weaker, dict):
        problems.append(f"{meta_path}: should_not_must: must map a word to a 'should' sentence")
        return doc
    for word, sentence in weaker.items():
        if not doc.supports(str(sentence)):
            problems.append(
                f"{meta_path}: should_not_must: {word}: not found verbatim in {text_path.name}"
            )
        elif not re.search(r"\bshould\b", str(sentence), re.I):
            problems.append(f"{meta_path}: should_not_must: {word}: the sentence has no 'should'")
        else:
            doc.should_not_must[str(word).lower()] = str(sentence)
    return doc


def _check_service_fields(path: Path, listed: object, details: service.Details | None) -> list[str]:
    """Each service detail an article shows is one the assistant can show, and is filled in."""
    if listed is None:
        return []
    if not isinstance(listed, list):
        return [f"{path}: service: must be a list of the service's fields (knowledge/service.yml)"]
    problems = []
    for name in listed:
        name = str(name)
        if name not in CONTACT_FIELDS and not name.startswith(FACTSHEET_PREFIX):
            problems.append(
                f"{path}: service: '{name}' can't be shown under an answer (use "
                f"{', '.join(CONTACT_FIELDS)} or {FACTSHEET_PREFIX}<id>)"
            )
            continue
        why = service.missing(details, name) if details is not None else None
        if why:
            problems.append(
                f"{path}: service: '{name}' is {why} in knowledge/service.yml: fill it in there, "
                "or take it out of this article"
            )
    return problems


def _as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _check_article(path: Path, data: dict, guidance: dict[str, GuidanceDocument]) -> list[str]:
    problems = [f"{path}: {name}: missing" for name in ARTICLE_FIELDS if not data.get(name)]
    if problems:
        return problems
    if data["id"] != path.stem:
        problems.append(f"{path}: id: '{data['id']}' differs from the file name '{path.stem}'")
    for name in ("title", "answer", "summary", "detail", "section"):
        if contains_placeholder(str(data.get(name) or "")):
            problems.append(f"{path}: {name}: contains placeholder text")
    summary_words = len(str(data["summary"]).split())
    if summary_words > MAX_SUMMARY_WORDS:
        problems.append(f"{path}: summary: {summary_words} words; keep it to {MAX_SUMMARY_WORDS}")
    problems += _check_follow_ups(path, data.get("follow_ups"))
    problems += _check_stage_notes(path, data, guidance.get(data["guidance"]))
    words = len(str(data["answer"]).split())
    if words > MAX_ANSWER_WORDS:
        problems.append(
            f"{path}: answer: {words} words; keep it to {MAX_ANSWER_WORDS} "
            "(move the rest to detail)"
        )
    doc = guidance.get(data["guidance"])
    if doc is None:
        problems.append(
            f"{path}: guidance: unknown guidance document '{data['guidance']}' "
            f"(known: {', '.join(sorted(guidance)) or 'none'})"
        )
        return problems
    section = doc.section(str(data["section"]))
    if section is None:
        problems.append(f"{path}: section: '{data['section']}' is not a heading of '{doc.id}'")
    elif section.placeholder:
        problems.append(f"{path}: section: '{data['section']}' is placeholder text")
    for quote in _as_list(data["quote"]):
        if contains_placeholder(str(quote)):
            problems.append(f"{path}: quote: contains placeholder text: '{quote}'")
        elif not doc.supports(str(quote)):
            problems.append(f"{path}: quote: not found verbatim in '{doc.id}': '{quote}'")
    problems += _check_duties(path, data, doc)
    problems += _check_support(path, data)
    if not isinstance(data["related"], list):
        problems.append(f"{path}: related: must be a list of article ids")
    if not isinstance(data["questions"], list):
        problems.append(f"{path}: questions: must be a list of questions")
    return problems


def _check_duties(path: Path, data: dict, doc: GuidanceDocument) -> list[str]:
    """Every "must" (have to, required to, legally ...) rests on a quote of this article that says
    "must" about the same thing, and never on a word the guidance also says with "should"."""
    quotes = [str(q) for q in _as_list(data["quote"])]
    quotes += [str(q) for q in (data.get("stage_quotes") or {}).values()]
    duty_quotes = [content_words(q) for q in quotes if DUTY_IN_QUOTE.search(q)]
    texts = [(name, str(data.get(name) or "")) for name in CHECKED_TEXTS]
    notes = data.get("stage_notes") or {}
    texts += (
        [(f"stage_notes: {k}", str(v)) for k, v in notes.items()] if isinstance(notes, dict) else []
    )
    problems = []
    for name, text in texts:
        for sentence in sentences(text):
            duty = DUTY_IN_ARTICLE.search(sentence)
            if not duty:
                continue
            words = content_words(sentence)
            weaker = next((w for w in doc.should_not_must if w[:5] in words), None)
            if weaker:
                problems.append(
                    f"{path}: {name}: '{duty.group(0)}' in '{sentence}': the guidance also says "
                    f"this with 'should' ('{doc.should_not_must[weaker]}'); keep the weaker "
                    "reading, 'should'"
                )
            elif not any(len(words & quoted) >= MIN_SHARED_WORDS for quoted in duty_quotes):
                problems.append(
                    f"{path}: {name}: '{duty.group(0)}' in '{sentence}': no quote of this article "
                    "says 'must' about it (write 'should' where the guidance does, or quote the "
                    "sentence that says 'must')"
                )
    return problems


def _check_support(path: Path, data: dict) -> list[str]:
    """Every sentence a parent reads is said by one of the article's quotes, in the quote's words
    or (listed in ``paraphrases``: sentence -> the words of a quote it says plainly) in others."""
    quotes = [str(q) for q in _as_list(data["quote"])]
    quotes += [str(q) for q in (data.get("stage_quotes") or {}).values()]
    quoted = [normalise_for_quotes(q) for q in quotes]
    quote_words = [content_words(q) for q in quotes]
    paraphrases = data.get("paraphrases") or {}
    if not isinstance(paraphrases, dict):
        return [f"{path}: paraphrases: must map a sentence to the words of a quote it says plainly"]
    problems = []
    for sentence, source in paraphrases.items():
        if not any(normalise_for_quotes(str(source)) in q for q in quoted):
            problems.append(
                f"{path}: paraphrases: '{sentence}': '{source}' is not part of a quote of this "
                "article (add the quote, or point at its words)"
            )
    listed = {normalise_for_quotes(str(k)) for k in paraphrases}
    said = set()
    for name in CHECKED_TEXTS:
        for sentence in sentences(str(data.get(name) or "")):
            said.add(normalise_for_quotes(sentence))
            if normalise_for_quotes(sentence) in listed:
                continue
            words = content_words(_GLOSS.sub(" ", sentence))
            if len(words) < 2:
                continue
            best = max((len(words & q) / len(words) for q in quote_words), default=0.0)
            if best < MIN_SUPPORT:
                problems.append(
                    f"{path}: {name}: '{sentence}' rests on no quote of this article (at most "
                    f"{best:.0%} of its words are in one): quote the guidance it says, or add it "
                    "to paraphrases with the words of the quote it puts plainly"
                )
    problems += [
        f"{path}: paraphrases: '{sentence}' is not a sentence of the answer, summary or detail"
        for sentence in sorted(listed - said)
    ]
    return problems


def _check_follow_ups(path: Path, follow_ups: object) -> list[str]:
    """Shape only here; the targets are checked once every article is loaded."""
    if follow_ups is None:
        return []
    if not isinstance(follow_ups, dict):
        return [f"{path}: follow_ups: must map {', '.join(FOLLOW_UP_KEYS)} to an article id"]
    return [
        f"{path}: follow_ups: unknown kind '{kind}' (known: {', '.join(FOLLOW_UP_KEYS)})"
        for kind in follow_ups
        if kind not in FOLLOW_UP_KEYS
    ]


def _check_stage_notes(path: Path, data: dict, doc: GuidanceDocument | None) -> list[str]:
    """A stage note says what the guidance says for that stage: each rests on a verbatim quote."""
    notes = data.get("stage_notes") or {}
    quotes = data.get("stage_quotes") or {}
    if not isinstance(notes, dict) or not isinstance(quotes, dict):
        return [f"{path}: stage_notes, stage_quotes: must map a stage to text"]
    problems = []
    for stage, note in notes.items():
        if stage not in STAGE_KEYS:
            problems.append(
                f"{path}: stage_notes: unknown stage '{stage}' ({', '.join(STAGE_KEYS)})"
            )
        if contains_placeholder(str(note)):
            problems.append(f"{path}: stage_notes: {stage}: contains placeholder text")
        quote = quotes.get(stage)
        if not quote:
            problems.append(f"{path}: stage_quotes: {stage}: missing (the guidance it rests on)")
        elif doc is not None and not doc.supports(str(quote)):
            problems.append(f"{path}: stage_quotes: {stage}: not found verbatim in '{doc.id}'")
    return problems


def load(directory: Path = KNOWLEDGE_DIR) -> KnowledgeBase:
    """Load and validate the whole knowledge base; raise KnowledgeError listing every problem."""
    problems: list[str] = []
    guidance: dict[str, GuidanceDocument] = {}
    meta_files = sorted((directory / "guidance").glob("*.yml"))
    if not meta_files:
        problems.append(f"{directory / 'guidance'}: no guidance document (*.yml beside its text)")
    for meta_path in meta_files:
        doc = load_guidance(meta_path, problems)
        if doc is None:
            continue
        if doc.id in guidance:
            problems.append(f"{meta_path}: id: duplicate guidance id '{doc.id}'")
        guidance[doc.id] = doc

    details = None
    try:
        details = service.read(directory / "service.yml")
        problems += service.check(
            details.as_mapping(), replies.BEYOND_GUIDANCE_INTENTS, str(directory / "service.yml")
        )
    except service.ServiceError as error:
        problems += error.problems
    kb = KnowledgeBase(guidance, service=details)
    for path in sorted((directory / "articles").glob("*.yml")):
        data = _read_yaml(path, problems)
        if data is None:
            continue
        article_problems = _check_article(path, data, guidance)
        article_problems += _check_service_fields(path, data.get("service"), details)
        problems += article_problems
        if any(p.endswith(": missing") for p in article_problems):
            continue
        if data["id"] in kb.articles:
            other = kb.articles[data["id"]].path
            problems.append(f"{path}: id: duplicate id '{data['id']}' (also in {other})")
            continue
        kb.articles[data["id"]] = Article(
            id=data["id"],
            title=str(data["title"]).strip(),
            guidance=data["guidance"],
            section=str(data["section"]),
            answer=str(data["answer"]).strip(),
            quotes=[str(q) for q in _as_list(data["quote"])],
            related=list(data["related"]) if isinstance(data["related"], list) else [],
            questions=[str(q) for q in data["questions"]]
            if isinstance(data["questions"], list)
            else [],
            detail=str(data.get("detail") or "").strip(),
            summary=" ".join(str(data["summary"]).split()),
            follow_ups={str(k): str(v) for k, v in (data.get("follow_ups") or {}).items()},
            stage_notes={
                str(k): " ".join(str(v).split()) for k, v in (data.get("stage_notes") or {}).items()
            },
            service=[str(s) for s in _as_list(data.get("service"))],
            path=path,
        )
    for article in kb.articles.values():
        for related in article.related:
            if related not in kb.articles:
                problems.append(f"{article.path}: related: '{related}' is not an article id")
            elif related == article.id:
                problems.append(f"{article.path}: related: an article cannot relate to itself")
        for kind, target in article.follow_ups.items():
            if target.startswith(BEYOND_PREFIX):
                if target[len(BEYOND_PREFIX) :] not in replies.topics():
                    problems.append(
                        f"{article.path}: follow_ups: {kind}: '{target}' is not a topic in "
                        "knowledge/replies.yml (escalate.topics)"
                    )
            elif target not in kb.articles:
                problems.append(
                    f"{article.path}: follow_ups: {kind}: '{target}' is not an article id"
                )
    expected = expected_article_ids(directory)
    if expected is not None:
        for article_id in sorted(set(kb.articles) - expected):
            problems.append(
                f"{kb.articles[article_id].path}: id: unknown id '{article_id}' "
                f"(add it to {directory / 'article-ids.yml'} first)"
            )
        for article_id in sorted(expected - set(kb.articles)):
            problems.append(f"{directory / 'articles'}: no article for id '{article_id}'")
    if problems:
        raise KnowledgeError(problems)
    return kb


def expected_article_ids(directory: Path = KNOWLEDGE_DIR) -> set[str] | None:
    """The stable article ids the rest of the system refers to (knowledge/article-ids.yml)."""
    path = directory / "article-ids.yml"
    if not path.is_file():
        return None
    return set(yaml.safe_load(path.read_text(encoding="utf-8"))["ids"])
