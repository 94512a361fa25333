"""Redact personal data from parents' messages before advisers see a transcript.

Advisers review chats in a web console. Under UK GDPR, and because most of what parents write
is about their children, personal data is hidden by default: each item found is replaced by a
label in square brackets.

What is redacted
----------------
``[EMAIL]``          email addresses.
``[PHONE]``          UK phone numbers: mobile and landline, national (``07700 900123``,
                     ``(020) 7946 0018``, ``0117 496 0123``) and international (``+44 7700 900123``,
                     ``+44 (0)7700 900 123``, ``0044 ...``), spaced, hyphenated or run together.
``[POSTCODE]``       UK postcodes in any case, with or without the space. The outward code must
                     start with a real postcode area (``SW``, ``M``, ``DN``...) and the inward code
                     must use the letters Royal Mail allows, so "y6 2nd" or "b4 5pm" are left alone.
``[ADDRESS]``        a house number (optionally with a letter, optionally after "Flat 3,") and a
                     street name ending in Road, Street, Avenue, Lane, Close, Drive and so on. The
                     town after it is kept; a postcode after it becomes ``[POSTCODE]``.
``[DATE OF BIRTH]``  a date after a birth word ("born on", "DOB", "date of birth", "birthday"),
                     including partial dates there ("born in March 2015", "birthday is 14 Feb").
                     The birth word itself is kept: "born on [DATE OF BIRTH]".
``[DATE]``           any other full date with day, month and year (``03/03/2015``,
                     ``3 March 2015``, ``2015-03-03``). This is a deliberate choice: parents often
                     give a child's date of birth with no birth word ("Jack, 03/03/2015, ASD"), so
                     every full date is hidden. Plain years ("in 2023") and school years
                     ("Year 4") are kept, as are a day and month with no birth word.
``[NAME]``           people's names where a cue shows that a name follows: a relationship word
                     ("my son Jack", "our boy tom", "my DS Oliver"), an introduction ("my name is",
                     "I'm", "this is", "called", "named"), a greeting or sign-off ("Hi Sarah",
                     "Thanks, Sarah") or a title ("Mrs Khan", "Dr Jones", "Mr O'Brien"). The cue
                     word is kept: "my son [NAME]". After a relationship word, "my name is" or
                     "is called" a lower-case name is redacted too, unless it is a common word
                     from a generous stop list ("my son is 7", "my son has ADHD" are left alone).
``[SCHOOL]``         one to four capitalised words followed by Primary, Academy, High School, C of E
                     Primary, College and the like ("Oakwood Academy", "St Mary's C of E
                     Primary"). Generic phrases ("the school", "a special school", "Secondary
                     School") are kept.

Overlaps are resolved by keeping the longer span, then the earlier one, then the category that
comes first in ``_PRIORITY`` (email before phone, date of birth before date, address before
postcode, school before name). Labels already in the text are never touched, so ``redact`` is
idempotent.

What is knowingly not redacted
------------------------------
* Names with no cue: "Jack said he hates it", "Sarah from the council rang".
* A second child in a list: "my twins Jack and Mia" hides Jack only.
* Lower-case names after a weak cue ("I'm sarah", "called harry", "hi sarah"), because "I'm
  worried" and "called back" look the same; and names that are common words in lower case
  ("my son will", "my daughter may").
* All-capital names in some places ("I'm SARAH"); school names written in lower case
  ("oakwood primary") or made only of generic words and acronyms ("The SEN School").
* Addresses without a house number ("Acacia Avenue"), towns, and non-UK phone numbers.
* Dates of birth written only as a year ("born in 2015"), and ages ("aged 7").
* Free-text descriptions that identify a child in other ways (a rare condition, a local event).

Redaction is a safeguard that reduces how much personal data advisers are shown. It is not a
guarantee: it works on patterns and cue words, it will miss some personal data and will
sometimes hide words that are not. Treat redacted transcripts as still containing personal data.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator

__all__ = ["LABELS", "find_personal_data", "redact"]

LABELS = ("NAME", "EMAIL", "PHONE", "ADDRESS", "POSTCODE", "DATE OF BIRTH", "SCHOOL", "DATE")

# Lower number wins when two spans of the same length start at the same place.
_PRIORITY = {
    "EMAIL": 0,
    "PHONE": 1,
    "DATE OF BIRTH": 2,
    "DATE": 3,
    "ADDRESS": 4,
    "POSTCODE": 5,
    "SCHOOL": 6,
    "NAME": 7,
}

# A label already in the text: never redacted again, never part of a new span.
_LABEL_RE = re.compile(r"\[(?:" + "|".join(re.escape(label) for label in LABELS) + r")\]")

Span = tuple[int, int, str]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ---------------------------------------------------------------------------------------------
# Stop lists
# ---------------------------------------------------------------------------------------------

# Words that, after "my son", "I'm", "this is" and so on, are not a name. Checked in lower case
# with curly apostrophes straightened. Generous on purpose: a missed lower-case name is less
# likely than an everyday word, and these lists are cheap.
_NAME_STOP = _words(
    """
    i me my mine myself he him his himself she her hers herself they them their theirs
    themselves we us our ours ourselves you your yours yourself it its itself one ones
    this that these those who whom whose which what whatever when where why how
    a an the and or but nor so because as if then than though although while whilst since until
    unless with without within in on at to from for of by about above after before behind below
    beside besides between beyond into onto over under up down out off through throughout
    during among against around across along near towards toward via per upon
    also too either neither both all any some no not none each every only just even still yet
    already now currently recently finally again always never often sometimes usually normally
    generally really very quite rather pretty such much many more most less least lot lots
    bit little big small tiny young old older younger eldest oldest youngest middle
    first second third fourth fifth last next other another same different own
    one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty half
    there here is isn't was wasn't are aren't were weren't be been being am
    has hasn't have haven't had hadn't having do does doesn't did didn't doing done
    can can't cannot could couldn't will won't would wouldn't shall should shouldn't
    may might must mustn't need needs needed needing ought
    i'm i've i'd i'll he's he'd he'll she's she'd she'll it's they're they've they'd we're
    we've you're you've that's there's what's who's let's im ive dont doesnt didnt isnt wasnt
    cant wont hes shes theyre thats whats
    struggle struggles struggled struggling get gets got getting gotten go goes went going gone
    attend attends attended attending start starts started starting find finds found finding
    seem seems seemed say says said tell tells told ask asks asked want wants wanted wanting
    like likes liked love loves loved hate hates hated refuse refuses refused refusing
    cry cries cried crying scream screams screamed screaming hit hits hitting run runs ran
    running keep keeps kept become becomes became receive receives received receiving
    diagnose diagnosed diagnosis assessed assessment excluded exclusion suspended suspension
    move moves moved moving change changes changed changing come comes came coming leave
    leaves left leaving live lives lived living use uses used using talk talks talked talking
    speak speaks spoke speaking read reads reading write writes wrote writing learn learns
    learned learnt learning feel feels felt feeling think thinks thought thinking know knows
    knew knowing miss misses missed missing lose loses lost losing fall falls fell falling
    behave behaves behaved behaving mask masks masked masking cope copes coped coping manage
    manages managed managing require requires required qualify qualifies qualified see sees
    saw seen seeing take takes took taken taking give gives gave given giving make makes made
    making show shows showed shown score scores scored fail fails failed failing pass passes
    passed passing turn turns turned turning try tries tried trying work works worked working
    play plays played playing sleep sleeps slept sleeping eat eats ate eating sit sits sat
    sitting stay stays stayed staying wait waits waited waiting begin begins began begun
    finish finishes finished melt melts melted meltdown meltdowns shutdown shutdowns
    bolt bolts bolted absconds absconded hurt hurts harm harms self-harms self-harm
    bite bites bit kick kicks kicked throw throws threw thrown spit spits swear swears swore
    won't wont adores enjoys enjoyed excels excelled copes thrives thrived benefits benefited
    deserves deserved avoids avoided panics panicked worries worried worry worrying
    autistic dyslexic dyspraxic anxious nonverbal non-verbal verbal selective mute deaf blind
    disabled undiagnosed home educated home-educated electively unhappy happy sad upset
    scared frightened angry fine ok okay good bad great bright clever gifted able unable
    behind ahead struggling sure unsure confused tired exhausted stressed desperate lost
    aged age ages year years yr yrs month months week weeks day days time times term terms
    hour hours min mins minute minutes today tomorrow yesterday tonight morning afternoon
    evening night weekend weekends
    monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    sen send senco sendco ehcp ehcps ehc ehcna ehna adhd add asd asc autism spd spld semh slcn
    salt slt ot ep eps ta tas la lea sendiass iass ipsea camhs cahms gp paed paediatrician
    pda dcd odd ocd mld sld pmld vi hi msi pd fasd gdd tourette tourettes dyslexia dyspraxia
    dyscalculia epilepsy cp downs iep ieps pp sats ks1 ks2 ks3 ks4 gcse gcses fe pru ap
    dla pip nhs ofsted dfe sendist cyp lac cla pep chc
    mainstream special school schools nursery reception primary secondary college academy
    sixth form class classes unit provision plan plans support supports supported diagnoses
    report reports referral referrals tribunal appeal appeals letter letters note notes
    appointment appt appointments visit visits surgery review reviews meeting meetings
    teacher teachers head headteacher deputy staff council authority local social services
    services hospital doctor doctors dr helpline childline police charity team panel
    mum mom mummy mam dad daddy mother father parent parents carer carers grandma grandad
    granddad grandpa nan nana nanny gran granny grandparent grandparents step twin twins
    sibling siblings brother brothers sister sisters son sons daughter daughters child
    children kid kids boy boys girl girls baby babies toddler teen teenager husband wife
    partner ex family friend friends lad lads lass
    mr mrs ms mx miss dr prof sir madam dame lady lord
    please thanks thank hi hello hey dear yes yeah yep no nope lol tbh imo imho btw fyi asap
    etc eg ie ps pls plz thx omg ugh hmm um er
    there all everyone everybody anyone anybody someone somebody nobody team guys folks
    again both another either
    emailed emails phoned phones rang rings messaged texted texts replied replies responded
    agreed agrees suggested suggests recommended recommends mentioned explained admitted
    confirmed insisted claimed claims noticed reported contacted sent sends arranged organised
    promised decided informed believes seemed blamed named formed harmed calmed assumed
    screamed dreamed summed welcomed names nicknames
    absolutely definitely obviously apparently basically literally actually honestly
    constantly regularly completely totally probably possibly clearly simply mainly mostly
    nearly hardly barely suddenly slowly gradually occasionally frequently rarely seriously
    eventually certainly particularly especially unfortunately hopefully luckily sadly
    thankfully quickly easily badly properly fully
    """
)

# Names that are also common words: accepted when written with a capital letter.
_WORDLIKE_NAMES = _words(
    """
    will may june april august grace hope faith joy rose mark bill pat sue eve dawn summer
    autumn art guy max frank rich sunny jude rob ray dean drew heather holly ivy iris lily
    poppy daisy ruby amber jade pearl skye river sky brook miles reed victor grant
    """
)

# Capitalised words that may start a phrase before "... Academy" but are not part of a name.
_SCHOOL_LEAD_STOP = _words(
    """
    the a an my his her our their your its this that these those at in to from for of on by
    with and but so or if when which what where who how does do did is are was were i he she
    they we it you hi hello hey dear thanks also any some every each both new current
    previous old next local nearest nearby another other same his her
    """
)

# Words that describe a kind of school rather than name one.
_SCHOOL_GENERIC = _words(
    """
    primary secondary junior juniors infant infants high grammar middle first special
    mainstream independent private state free nursery sixth form upper lower prep
    preparatory boarding residential alternative provision hospital village faith church
    catholic community foundation school schools academy academies college colleges
    sen send ehcp asd adhd semh mld sld pmld pru ap fe la lea senco specialist resourced
    base unit county council local authority trust
    """
)

# Words that cannot sit between a house number and a street suffix ("2 hours walk").
_ADDRESS_STOP = _NAME_STOP - _words(
    """
    little big old new middle first second third one two three four five six seven eight nine
    ten mill high church park green hill station school
    """
)

# Street suffixes that are also everyday words: need a capital letter ("3 Oak Close").
_AMBIGUOUS_STREET = _words(
    "close drive dr way court place hill park walk square row st grove green mews crescent"
)

# ---------------------------------------------------------------------------------------------
# Patterns (precompiled, every repetition bounded or unambiguous, so no runaway backtracking)
# ---------------------------------------------------------------------------------------------

_EMAIL_RE = re.compile(
    r"(?<![\w.%+'\-])[\w.%+'\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}"
    r"\.[A-Za-z]{2,24}(?![\w\-])"
)

_PHONE_RE = re.compile(
    r"(?=[0-9(+])(?<![\w+])(?:"
    r"(?:\+|00)44[ \-]?(?:\(0\)[ \-]?)?[1-9](?:[ \-]?[0-9]){8,9}"
    r"|\(0[1-9][0-9]{1,3}\)[ \-]?[0-9](?:[ \-]?[0-9]){4,7}"
    r"|0[1-9](?:[ \-]?[0-9]){8,9}"
    r")(?![0-9])"
)

_POSTCODE_AREAS = frozenset(
    """
    AB AL BA BB BD BF BH BL BN BR BS BT BX CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL
    DN DT DY EC EH EN EX FK FY GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY
    LA LD LE LL LN LS LU ME MK ML NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM SA SE
    SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB WA WC WD WF WN WR WS WV
    YO ZE B E G L M N S W
    """.split()
)
# Broad shape first (fast); the area is checked against the real list afterwards. Inward
# letters never include C, I, K, M, O or V.
_POSTCODE_RE = re.compile(
    r"(?<![A-Za-z0-9])(?P<area>[A-Z]{1,2})[0-9][A-Z0-9]?\s?(?P<inward>[0-9][ABD-HJLNP-UW-Z]{2})"
    r"(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_ORDINAL_RE = re.compile(r"[0-9](?:st|nd|rd|th)")

_STREET_SUFFIX = (
    r"road|rd|street|st|avenue|ave|lane|ln|close|drive|dr|way|crescent|court|place|grove|"
    r"gardens|terrace|hill|park|walk|square|mews|row|green"
)
_ADDRESS_RE = re.compile(
    r"(?<![\w£$.,:/\-])"
    r"(?:(?:flat|apartment|apt|unit)[ \t]{1,3}[0-9]{1,4}[a-z]?[ \t]{0,2},?[ \t]{1,3})?"
    r"[0-9]{1,4}[a-z]?(?:[ \t]{0,2},)?[ \t]{1,3}"
    r"(?P<words>(?:[a-z][a-z'’\-]{0,30}[ \t]{1,3}){1,3}?)"
    r"(?P<suffix>" + _STREET_SUFFIX + r")\b\.?",
    re.IGNORECASE,
)
_BEFORE_NUMBER_RE = re.compile(r"(?i)\b(?:year|yr|y|age|aged|ks|key stage|class|set|group)\s*$")

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_ORD = r"(?:st|nd|rd|th)?"
_FULL_DATE = (
    r"(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"|[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-][0-9]{4}"
    r"|[0-9]{1,2}" + _ORD + r"[ \t]{0,2}(?:of[ \t]{1,2})?" + _MONTH + r",?[ \t]{1,2}[0-9]{4}"
    r"|" + _MONTH + r"[ \t]{1,2}[0-9]{1,2}" + _ORD + r",?[ \t]{1,2}[0-9]{4})"
)
# After a birth word, partial dates count too.
_BIRTH_DATE = (
    r"(?:" + _FULL_DATE + r"|[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-][0-9]{2}"
    r"|[0-9]{1,2}"
    + _ORD
    + r"[ \t]{0,2}(?:of[ \t]{1,2})?"
    + _MONTH
    + r"|"
    + _MONTH
    + r",?[ \t]{1,2}(?:[0-9]{1,2}"
    + _ORD
    + r"|[0-9]{4}))"
)
_DATE_RE = re.compile(
    r"(?=[0-9JjFfMmAaSsOoNnDd])(?<![\w/.\-])" + _FULL_DATE + r"(?![\w/\-]|\.[0-9])", re.IGNORECASE
)
_BIRTH_RE = re.compile(
    r"(?=[BbDd])\b(?:born|d\.?o\.?b\b\.?|date[ \t]{1,3}of[ \t]{1,3}birth|birth[ \t]{0,2}date|"
    r"birthday(?:['’]s)?|b['’]?day)"
    r"(?:[ \t:,\-–]{0,4}(?:is|was|on|the|in|of|will[ \t]be)\b){0,3}[ \t:,\-–]{0,4}"
    r"(?P<date>" + _BIRTH_DATE + r")(?![\w/\-]|\.[0-9])",
    re.IGNORECASE,
)
_DIGITS_RE = re.compile(r"[0-9]+")
_MONTH_WORD_RE = re.compile(r"[A-Za-z]{3,}")

# One word of a name: letters, with inner apostrophes or hyphens (O'Brien, Amelia-Rose).
_NAME_WORD_RE = re.compile(r"[^\W\d_]{1,30}(?:['’\-][^\W\d_]{1,30}){0,3}(?![\w'’\-])")
_NAME_GAP_RE = re.compile(r"[ \t]{1,3}")

_RELATION = (
    r"son|daughter|child|kid|boy|girl|lad|lass|ds[0-9]?|dd[0-9]?|dc[0-9]?|step-?son|"
    r"step-?daughter|grandson|granddaughter|grandchild|nephew|niece|brother|sister|twins?|"
    r"husband|wife|partner|teacher|senco|sendco|ta|key[ \t]?worker|eldest|oldest|youngest|"
    r"little[ \t]one|lo"
)
# Cue words after which a lower-case name is accepted (checked against the stop list).
_LENIENT_CUES = re.compile(
    r"(?i)(?=[mohtyniw'’])\b(?:"
    r"(?:my|our|his|her|their|your)[ \t]{1,3}(?:[\w'\-]{1,20}[ \t]{1,3}){0,3}?"
    r"(?:" + _RELATION + r")"
    r"|my[ \t]{1,3}name[ \t]{1,3}is|my[ \t]{1,3}name['’]s|name[ \t]{0,2}:"
    r"|(?:is|was|['’]s)[ \t]{1,3}(?:called|named)"
    r")\b[ \t]{0,2},?[ \t]{1,3}"
)
# Cue words that need a capitalised name ("I'm Sarah", not "I'm worried").
_STRICT_CUES = re.compile(
    r"(?=[IiTtCcNnKkHhDdMmRrBb])(?<![\w'’])(?:"
    r"[Ii]['’]?m|[Ii][ \t]{1,3}am|[Tt]his[ \t]{1,3}is|[Cc]alled|[Nn]amed|[Kk]nown[ \t]{1,3}as"
    r"|[Hh]i|[Hh]ello|[Hh]ey|[Dd]ear"
    r"|[Tt]hanks|[Tt]hank[ \t]{1,3}you|[Mm]any[ \t]{1,3}thanks|(?:[Kk]ind[ \t]{1,3})?[Rr]egards"
    r"|[Bb]est[ \t]{1,3}wishes|[Cc]heers"
    r")\b[ \t,!]{0,3}(?<=[ \t,!])[ \t]{0,2}"
)
_TITLE_RE = re.compile(
    r"(?=[MmDdP])(?<![\w'’])(?P<title>(?:Mrs|Mr|Ms|Mx|Dr|mrs|mr|ms|dr|MRS|MR|DR|Prof)\b\.?|Miss)"
    r"[ \t]{1,3}"
)

_SCHOOL_KEYWORD_RE = re.compile(r"(?i)school|academy|college|primary|junior|infant")
_SCHOOL_WORD = r"[A-Z][\w'’\-]{0,30}\.?"
_SCHOOL_RE = re.compile(
    r"(?<![\w'’\-.])(?P<words>(?:" + _SCHOOL_WORD + r"[ \t]{1,2}){1,4})"
    r"(?P<suffix>(?i:"
    r"(?:(?:c\.?[ \t]?of[ \t]?e\.?|cofe|c\.?e\.?|r\.?c\.?|church[ \t]of[ \t]england|"
    r"roman[ \t]catholic|catholic|methodist|jewish|islamic|muslim|community|foundation)"
    r"[ \t]{1,2})?"
    r"(?:(?:(?:primary|junior|infants?|nursery|secondary|high|grammar|middle|first|special|"
    r"prep(?:aratory)?|independent|free|junior[ \t]and[ \t]infants?|infant[ \t]and[ \t]junior)"
    r"[ \t]{1,2})?(?:school|academy|college)"
    r"|primary|juniors|infants)"
    r"))(?![\w'’])"
)


# ---------------------------------------------------------------------------------------------
# Finders: each yields (start, end, label) candidates; overlaps are resolved afterwards.
# ---------------------------------------------------------------------------------------------


def _emails(text: str) -> Iterator[Span]:
    if "@" not in text:
        return
    for m in _EMAIL_RE.finditer(text):
        yield m.start(), m.end(), "EMAIL"


def _phones(text: str) -> Iterator[Span]:
    for m in _PHONE_RE.finditer(text):
        digits = sum(ch.isdigit() for ch in m.group())
        if m.group().startswith("(") and not 10 <= digits <= 11:
            continue
        yield m.start(), m.end(), "PHONE"


def _postcodes(text: str) -> Iterator[Span]:
    for m in _POSTCODE_RE.finditer(text):
        inward = m.group("inward")
        if m.group("area").upper() not in _POSTCODE_AREAS:
            continue  # "y6 2nd", "ks2 4th": not a postcode area
        if inward.islower() and _ORDINAL_RE.fullmatch(inward):
            continue  # "s2 2nd half of term"
        yield m.start(), m.end(), "POSTCODE"


def _addresses(text: str) -> Iterator[Span]:
    for m in _ADDRESS_RE.finditer(text):
        if _BEFORE_NUMBER_RE.search(text, max(0, m.start() - 10), m.start()):
            continue  # "Year 3 Chestnut Hill" is a class, not a house
        words = m.group("words").split()
        suffix = m.group("suffix")
        lowered = [w.lower().replace("’", "'") for w in words]
        if lowered[0] == "the" and words[0][0].isupper():
            lowered = lowered[1:]  # "12 The Grove"
        if any(w in _ADDRESS_STOP for w in lowered):
            continue
        if suffix.lower() in _AMBIGUOUS_STREET and not suffix[0].isupper():
            continue  # "2 close friends", "10 minute walk"
        yield m.start(), m.end(), "ADDRESS"


def _plausible_date(date_text: str) -> bool:
    numbers = [int(n) for n in _DIGITS_RE.findall(date_text)]
    if not numbers:
        return False
    if _MONTH_WORD_RE.search(date_text):
        small = [n for n in numbers if n < 100]
        years = [n for n in numbers if n >= 100]
        return all(1 <= n <= 31 for n in small) and all(1900 <= y <= 2099 for y in years)
    if len(numbers) != 3:
        return False
    if numbers[0] >= 100:  # ISO: year-month-day
        year, month, day = numbers
    else:
        day, month, year = numbers
    if year >= 100 and not 1900 <= year <= 2099:
        return False
    return 1 <= day <= 31 and 1 <= month <= 12 or 1 <= day <= 12 and 1 <= month <= 31


def _dates_of_birth(text: str) -> Iterator[Span]:
    for m in _BIRTH_RE.finditer(text):
        if _plausible_date(m.group("date")):
            yield m.start("date"), m.end("date"), "DATE OF BIRTH"


def _dates(text: str) -> Iterator[Span]:
    for m in _DATE_RE.finditer(text):
        if _plausible_date(m.group()):
            yield m.start(), m.end(), "DATE"


def _schools(text: str) -> Iterator[Span]:
    if not _SCHOOL_KEYWORD_RE.search(text):
        return
    for m in _SCHOOL_RE.finditer(text):
        words = m.group("words").split()
        keys = [w.lower().rstrip(".").replace("’", "'") for w in words]
        skip = 0
        while skip < len(keys) and keys[skip] in _SCHOOL_LEAD_STOP:
            skip += 1
        kept = keys[skip:]
        if not any(k not in _SCHOOL_GENERIC for k in kept):
            continue  # "Secondary School", "A Special School", "The SEN School"
        if skip:
            tokens = list(re.finditer(r"\S+", m.group("words")))
            start = m.start("words") + (tokens[skip].start() if skip < len(tokens) else 0)
        else:
            start = m.start("words")
        yield start, m.end(), "SCHOOL"


def _is_name(word: str, *, strict: bool) -> bool:
    """Whether a word after a cue is plausibly a name rather than an everyday word."""
    if len(word) < 2:
        return False
    capital = word[0].isupper()
    if strict and not capital:
        return False
    if word.isupper() and (strict or len(word) <= 2):
        return False  # acronyms: "I'm SENCO", "my son OT"
    key = word.lower().replace("’", "'")
    if (
        not capital
        and len(key) >= 6
        and (key.endswith("ing") or key.endswith("ed") and not key.endswith(("fred", "med")))
    ):
        return False  # lower-case verbs: "my son started", "her teacher emailed"
    base = key[:-2] if key.endswith("'s") else key
    for candidate in {key, base}:
        if candidate in _NAME_STOP and not (capital and candidate in _WORDLIKE_NAMES):
            return False
    return True


def _take_name(text: str, pos: int, *, strict: bool) -> int | None:
    """The end of a one- or two-word name starting at ``pos``, or None if there is none."""
    first = _NAME_WORD_RE.match(text, pos)
    if not first or not _is_name(first.group(), strict=strict):
        return None
    end = first.end()
    gap = _NAME_GAP_RE.match(text, end)
    if gap:
        second = _NAME_WORD_RE.match(text, gap.end())
        # A lower-case second word only follows a lower-case first one ("my son jack smith").
        strict_second = strict or first.group()[0].isupper()
        if second and _is_name(second.group(), strict=strict_second):
            end = second.end()
    return end


def _names(text: str) -> Iterator[Span]:
    for cues, strict in ((_LENIENT_CUES, False), (_STRICT_CUES, True)):
        for m in cues.finditer(text):
            end = _take_name(text, m.end(), strict=strict)
            if end is not None:
                yield m.end(), end, "NAME"
    for m in _TITLE_RE.finditer(text):
        # Lower-case surnames only after a lower-case-safe title ("mrs smith", not "dr note").
        lenient = m.group("title").lower().rstrip(".") in {"mr", "mrs"}
        end = _take_name(text, m.end(), strict=not lenient)
        if end is not None:
            yield m.start(), end, "NAME"


_FINDERS = (_emails, _phones, _dates_of_birth, _dates, _addresses, _postcodes, _schools, _names)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def find_personal_data(text: str) -> list[tuple[int, int, str]]:
    """The personal data in ``text`` as sorted, non-overlapping ``(start, end, label)`` spans.

    Where candidates overlap, the longer span wins, then the earlier, then the category with
    the higher priority. Labels already in the text (``[NAME]``...) are left alone.
    """
    if not text:
        return []
    candidates: list[tuple[int, int, int, str]] = []
    for finder in _FINDERS:
        for start, end, label in finder(text):
            if end > start:
                candidates.append((start, end, _PRIORITY[label], label))
    if not candidates:
        return []
    candidates.sort(key=lambda c: (c[0] - c[1], c[0], c[2]))

    # Chosen spans kept sorted by start; existing labels block new spans but are not reported.
    chosen: list[tuple[int, int, str | None]] = [
        (m.start(), m.end(), None) for m in _LABEL_RE.finditer(text)
    ]
    starts = [span[0] for span in chosen]
    for start, end, _, label in candidates:
        i = bisect_right(starts, start)
        if i > 0 and chosen[i - 1][1] > start:
            continue
        if i < len(chosen) and chosen[i][0] < end:
            continue
        chosen.insert(i, (start, end, label))
        starts.insert(i, start)
    return [(start, end, label) for start, end, label in chosen if label is not None]


def redact(text: str) -> str:
    """``text`` with each item of personal data replaced by its label, e.g. ``[NAME]``."""
    spans = find_personal_data(text)
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end, label in spans:
        parts.append(text[last:start])
        parts.append(f"[{label}]")
        last = end
    parts.append(text[last:])
    return "".join(parts)
