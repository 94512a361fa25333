"""Personal data in parents' messages is replaced by labels, and ordinary SEN talk is not."""

from __future__ import annotations

import random
import re
import time

import pytest

from bot.assistant.redaction import LABELS, find_personal_data, redact

# (message, expected redaction). Every format in the brief appears at least once.
EMAILS = [
    (
        "You can email me on sarah.jones@gmail.com if easier",
        "You can email me on [EMAIL] if easier",
    ),
    (
        "my email is j.o'neill-smith+school@outlook.co.uk thanks",
        "my email is [EMAIL] thanks",
    ),
    ("contact: DAVE_K99@hotmail.com.", "contact: [EMAIL]."),
    ("<a href='mailto:mum@example.org'>me</a>", "<a href='mailto:[EMAIL]'>me</a>"),
]

PHONES = [
    ("My mobile is 07700 900123", "My mobile is [PHONE]"),
    ("text me on 07700900123 after 3pm", "text me on [PHONE] after 3pm"),
    ("from abroad I'm on +44 7700 900123", "from abroad I'm on [PHONE]"),
    ("my work number is +44 (0)7700 900 123", "my work number is [PHONE]"),
    ("ring 0044 7700 900123 any time", "ring [PHONE] any time"),
    ("the school office is 020 7946 0018", "the school office is [PHONE]"),
    ("school number (020) 7946 0018 ext 2", "school number [PHONE] ext 2"),
    ("call me on 0117 496 0123", "call me on [PHONE]"),
    ("home phone 01632 960 123", "home phone [PHONE]"),
    ("0800 123 4567 is the number they gave", "[PHONE] is the number they gave"),
    ("07700-900-123 is my husband's", "[PHONE] is my husband's"),
    ("or +447700900123", "or [PHONE]"),
]

POSTCODES = [
    ("our postcode is SW1A 1AA", "our postcode is [POSTCODE]"),
    ("postcode sw1a1aa", "postcode [POSTCODE]"),
    ("we're in M1 1AE", "we're in [POSTCODE]"),
    ("B33 8TH area", "[POSTCODE] area"),
    ("CR2 6XH, Croydon", "[POSTCODE], Croydon"),
    ("it's DN55 1PT", "it's [POSTCODE]"),
    ("office at EC1A 1BB", "office at [POSTCODE]"),
    ("we are in ls1 4ap", "we are in [POSTCODE]"),
]

ADDRESSES = [
    ("We live at 12 Acacia Avenue, Leeds", "We live at [ADDRESS], Leeds"),
    ("3b Mill Lane, Bath BA1 1AA", "[ADDRESS], Bath [POSTCODE]"),
    ("Flat 2, 45 High Street", "[ADDRESS]"),
    ("write to 221B Baker Street please", "write to [ADDRESS] please"),
    ("we moved to 7 Oak Close last year", "we moved to [ADDRESS] last year"),
    ("address is 14 The Grove, Bristol", "address is [ADDRESS], Bristol"),
    ("he lives at 10 church road with his dad", "he lives at [ADDRESS] with his dad"),
    ("5 Station Rd. Sheffield S1 2AB", "[ADDRESS] Sheffield [POSTCODE]"),
]

DATES = [
    ("he was born on 3 March 2015", "he was born on [DATE OF BIRTH]"),
    ("DOB 03/03/2015", "DOB [DATE OF BIRTH]"),
    ("date of birth: 3rd March 2015", "date of birth: [DATE OF BIRTH]"),
    ("d.o.b. 2015-03-03", "d.o.b. [DATE OF BIRTH]"),
    ("his birthday is 14/02/2016", "his birthday is [DATE OF BIRTH]"),
    ("she was born in March 2015 at 28 weeks", "she was born in [DATE OF BIRTH] at 28 weeks"),
    ("D.O.B 5/11/14", "D.O.B [DATE OF BIRTH]"),
    ("her birthday is 14 February", "her birthday is [DATE OF BIRTH]"),
    ("born on the 3rd of March 2015", "born on the [DATE OF BIRTH]"),
    (
        "The EHCP was issued on 12/01/2024 and reviewed 2024-06-01",
        "The EHCP was issued on [DATE] and reviewed [DATE]",
    ),
    ("the tribunal is on 3rd of June 2025", "the tribunal is on [DATE]"),
    ("Jack, 03/03/2015, ASD", "Jack, [DATE], ASD"),
]

NAMES = [
    ("my son Jack is 7", "my son [NAME] is 7"),
    ("My daughter Amelia-Rose has ADHD", "My daughter [NAME] has ADHD"),
    ("my DS Oliver is in year 2", "my DS [NAME] is in year 2"),
    ("my dd Mia won't go to school", "my dd [NAME] won't go to school"),
    ("our boy Tom is autistic", "our boy [NAME] is autistic"),
    ("my child Sam has an EHCP", "my child [NAME] has an EHCP"),
    ("my name is Sarah Jones and I'm a parent", "my name is [NAME] and I'm a parent"),
    ("I'm Sarah, mum to two boys", "I'm [NAME], mum to two boys"),
    ("I am Mrs Khan", "I am [NAME]"),
    ("this is Dave, the dad", "this is [NAME], the dad"),
    ("her teacher Mrs Smith says she's fine", "her teacher [NAME] says she's fine"),
    ("Mr O'Brien the SENCO won't reply", "[NAME] the SENCO won't reply"),
    ("I spoke to Ms Patel yesterday", "I spoke to [NAME] yesterday"),
    ("Dr Jones diagnosed him", "[NAME] diagnosed him"),
    ("a boy called Harry and a girl named Ava", "a boy called [NAME] and a girl named [NAME]"),
    ("my son jack has asd", "my son [NAME] has asd"),
    ("my son jack smith is 9", "my son [NAME] is 9"),
    ("my 7 year old son Leo", "my 7 year old son [NAME]"),
    ("my eldest Freya is in year 9", "my eldest [NAME] is in year 9"),
    ("Thanks, Sarah", "Thanks, [NAME]"),
    ("Hi Sarah, thanks for the help", "Hi [NAME], thanks for the help"),
    ("his teacher, Miss Hughes, said", "his teacher, [NAME], said"),
    ("My son, Charlie, has dyslexia", "My son, [NAME], has dyslexia"),
    ("mrs smith the class teacher", "[NAME] the class teacher"),
    ("I’m Priya and my son is called rohan", "I’m [NAME] and my son is called [NAME]"),
    ("my son Will is 6", "my son [NAME] is 6"),
    ("my twins Jack and Mia", "my twins [NAME] and Mia"),
    ("my husband Dave and his key worker Jo", "my husband [NAME] and his key worker [NAME]"),
]

SCHOOLS = [
    ("he goes to St Mary's C of E Primary", "he goes to [SCHOOL]"),
    ("Oakwood Academy won't assess him", "[SCHOOL] won't assess him"),
    ("she's at Hill Top Primary School in Leeds", "she's at [SCHOOL] in Leeds"),
    ("Riverside High School said no", "[SCHOOL] said no"),
    ("we applied to St Joseph's RC Primary School", "we applied to [SCHOOL]"),
    ("King Edward VI Grammar School", "[SCHOOL]"),
    ("she left Greenfield Infant School in July", "she left [SCHOOL] in July"),
    ("the head of Brookside Church of England Primary", "the head of [SCHOOL]"),
    ("Hi, The Grange Secondary School rang", "Hi, The [SCHOOL] rang"),
]

MIXED = [
    (
        "Hi, I'm Sarah. My son Jack (DOB 03/03/2015) is in Year 4 at Oakwood Academy and has "
        "ADHD. The SENCO Mrs Smith says no EHCP. Call me on 07700 900123 or email "
        "sarah@example.com. We live at 12 Acacia Avenue, Leeds LS1 4AP.",
        "Hi, I'm [NAME]. My son [NAME] (DOB [DATE OF BIRTH]) is in Year 4 at [SCHOOL] and has "
        "ADHD. The SENCO [NAME] says no EHCP. Call me on [PHONE] or email "
        "[EMAIL]. We live at [ADDRESS], Leeds [POSTCODE].",
    ),
    (
        "my ds oliver (yr 5) at Meadow Junior School, dob 14/02/2016, ring 0117 496 0123",
        "my ds [NAME] (yr 5) at [SCHOOL], dob [DATE OF BIRTH], ring [PHONE]",
    ),
]

POSITIVE = EMAILS + PHONES + POSTCODES + ADDRESSES + DATES + NAMES + SCHOOLS + MIXED

# Ordinary SEN talk: must come back exactly as written.
NEGATIVE = [
    "my son is 7 and in year 3",
    "my son has ADHD and ASD",
    "my daughter struggles with reading",
    "I'm worried about transition to secondary",
    "I am not sure if he needs an EHCP",
    "I'm a parent of a child with SEND",
    "my son Year 4 teacher says he is fine",
    "my ds is in year 4, EP said SALT needed, SENCo says no EHCP till 2025",
    "he gets 2 hours 1:1 a week",
    "call the helpline for advice",
    "the school says he's fine at school",
    "his school won't do an EHCNA",
    "primary school was better than secondary school",
    "she's moving to a special school in September",
    "he's in mainstream school with 15 hours support",
    "we had the annual review in 2023",
    "section 20 of the Act, section 42 duty",
    "the LA has 6 weeks to decide and 20 weeks overall",
    "it cost us £1,000 for a private EP report",
    "age 10 and reading age of 6",
    "my daughter is 12 and has a diagnosis of dyslexia",
    "my son also has sensory issues",
    "my child just needs more help",
    "my dd really hates PE",
    "my son was excluded twice this term",
    "my son, who is autistic, is struggling",
    "I am so tired of fighting",
    "I'm not happy with the IEP",
    "I'm Autistic myself so I understand",
    "This is about my son",
    "He has 2 close friends in his class",
    "it's a 10 minute walk to school",
    "he had 3 meltdowns in a row",
    "we spent 2 hours in the park",
    "SENCO said the TA can do 1:1 from 9:30 to 11:00",
    "it is in Key Stage 2, KS2 SATs in May",
    "y6 2nd half term, b4 5pm",
    "what does SEN Support mean for a Year 7 pupil?",
    "her teacher said she was fine",
    "Mainstream School is not working. Which Secondary School should we pick?",
    "The SEN School is full",
    "Hi there, thanks for your help",
    "Thanks again for the info",
    "Dear Sir or Madam",
    "0800 1111 is Childline",
    "his reading score went from 85 to 92 in 12 months",
    "EHCP deadline is 20 weeks from 1st May",
    "the SEND Code of Practice 0-25 years 2015",
    "called the school twice",
    "he was born prematurely",
    "my son's teacher emailed me yesterday",
    "my son will start in September",
    "our daughter may need a statement",
    "my son is called names at school",
    "it's called SEN Support",
    "Year 4",
    "my son is in year 6 and my daughter is in reception",
    "EHCP in 2023",
    "2 hours a week",
    "they said 3-4 sessions of SALT, maybe 10/10 progress",
    "we're 2 minutes up the road from school",
    "he ran 3 laps round the Park at break",
    "the taxi takes 40 mins down the Lane and back",
    "HE IS IN Y6 2ND TERM AND STRUGGLING",
    "his marks were 15/17/2023 (reading/maths/year)",
]

ODD_INPUTS = [
    "",
    " ",
    "\n\n\t",
    "😀🎒📚 my son 😀 Jack 😀",
    "<script>alert('x')</script><b>Mrs</b> <i>Smith</i>",
    "مرحبا، ابني اسمه أحمد",
    "我的儿子叫小明，他在上小学",
    "Привет, меня зовут Ольга",
    "\x00\x01\x02 my son \x00",
    "\ud800 broken surrogate \udfff",
    "[NAME] [EMAIL] [PHONE] [ADDRESS] [POSTCODE] [DATE OF BIRTH] [SCHOOL] [DATE]",
    "[[[[]]]] @@@ +++ ((((0)))) ----",
    "Mr",
    "my son",
    "born on",
    "12",
    "@",
    "a@b",
]


def _ids(cases: list[tuple[str, str]]) -> list[str]:
    return [message[:40] for message, _ in cases]


@pytest.mark.parametrize("message, expected", POSITIVE, ids=_ids(POSITIVE))
def test_personal_data_is_replaced_by_labels(message, expected):
    assert redact(message) == expected


@pytest.mark.parametrize("message", NEGATIVE)
def test_ordinary_sen_talk_is_left_alone(message):
    assert redact(message) == message, find_personal_data(message)


def test_there_are_enough_cases_of_every_kind():
    assert len(POSITIVE) >= 60
    assert len(NEGATIVE) >= 30
    outputs = " ".join(expected for _, expected in POSITIVE)
    for label in LABELS:
        assert f"[{label}]" in outputs, label


@pytest.mark.parametrize("message, expected", POSITIVE, ids=_ids(POSITIVE))
def test_redaction_is_idempotent(message, expected):
    once = redact(message)
    assert redact(once) == once
    assert find_personal_data(once) == []


@pytest.mark.parametrize("message", [m for m, _ in POSITIVE] + ODD_INPUTS)
def test_spans_are_sorted_non_overlapping_and_labelled(message):
    spans = find_personal_data(message)
    for start, end, label in spans:
        assert 0 <= start < end <= len(message)
        assert label in LABELS
    for (_, end, _), (start, _, _) in zip(spans, spans[1:], strict=False):
        assert end <= start


def test_spans_match_the_redacted_text():
    message, expected = MIXED[0]
    spans = find_personal_data(message)
    assert [label for _, _, label in spans] == re.findall(r"\[([A-Z ]+)\]", expected)
    assert [message[s:e] for s, e, _ in spans][:3] == ["Sarah", "Jack", "03/03/2015"]


def test_overlaps_prefer_the_longer_span():
    # The email contains what looks like a postcode and a name; the email wins whole.
    assert redact("write to sw1a1aa.mrs.smith@example.com") == "write to [EMAIL]"
    # A school name led by a name cue: the longer school span wins over the name.
    assert redact("I called Oakwood Academy") == "I called [SCHOOL]"


@pytest.mark.parametrize("message", ODD_INPUTS)
def test_odd_input_never_raises_and_stays_a_string(message):
    result = redact(message)
    assert isinstance(result, str)
    assert redact(result) == result


@pytest.mark.parametrize(
    "message",
    [
        "Jack said he hates it",
        "I'm sarah, a boy called harry hit him",
        "he's at oakwood primary",
        "we're on Acacia Avenue",
        "born in 2015",
    ],
)
def test_known_limitations_stay_as_documented(message):
    # Names with no cue, lower-case names after weak cues, lower-case school names, streets
    # without a house number and bare birth years are knowingly missed (see the module
    # docstring). If one starts being redacted, update the docstring and move the case.
    assert redact(message) == message


def test_existing_labels_are_not_touched():
    text = "my son [NAME] at [SCHOOL], born on [DATE OF BIRTH]"
    assert redact(text) == text
    assert find_personal_data(text) == []


def _adversarial_inputs() -> dict[str, str]:
    n = 100_000
    rng = random.Random(20240601)
    return {
        "letters": "a" * n,
        "capitals and spaces": "A " * (n // 2),
        "digits": "0" * n,
        "digits and spaces": "1 " * (n // 2),
        "one long gap": "1" + " " * n + "Road",
        "at signs": "x@" * (n // 2),
        "dotted domain": "x@" + "a." * (n // 2),
        "cues": "my son " * (n // 7),
        "titles": "Mr " * (n // 3),
        "school words": "Oak Hill Top " * (n // 13) + "School",
        "birth cues": "born on 1 " * (n // 10),
        "postcodes": "SW1A 1AA " * (n // 9),
        "phones": "07700 900123 " * (n // 13),
        "house numbers": "12 " + "a " * (n // 2),
        "punctuation": "".join(rng.choice("aA0 .@-/'’,:()+") for _ in range(n)),
    }


@pytest.mark.parametrize("name", list(_adversarial_inputs()))
def test_a_100k_adversarial_message_is_redacted_in_under_a_second(name):
    text = _adversarial_inputs()[name]
    assert len(text) >= 99_000
    started = time.perf_counter()
    result = redact(text)
    elapsed = time.perf_counter() - started
    assert isinstance(result, str)
    assert elapsed < 1.0, f"{name}: {elapsed:.2f}s"


def test_a_thousand_typical_messages_take_well_under_a_second():
    messages = [message for message, _ in POSITIVE] + NEGATIVE
    batch = [messages[i % len(messages)] * 3 for i in range(1000)]  # about 150-300 chars each
    started = time.perf_counter()
    for message in batch:
        redact(message)
    assert time.perf_counter() - started < 1.0
