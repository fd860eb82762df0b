"""Common English synonyms and set phrases, for checks that compare a claim's words with the
context's.

Data only.  Each group holds words that say the same in most sentences; a word may be in
several groups.  Deliberately absent: antonyms, quantifiers ("some", "most", "all"),
modals ("may", "must"), comparatives ("higher", "lower") and condition words, whose
substitution is exactly the kind of change the checks look for.  ``PHRASES`` maps a
multi-word phrase to one word that means the same ("ask for" -> "request"), applied to
token lists before they are compared.
"""

from __future__ import annotations

__all__ = ["PHRASES", "SYNONYMS", "synonyms_of"]

_GROUPS = (
    # verbs
    "can may", "might may could", "get gets got receive receives received obtain obtains",
    "buy buys bought purchase purchases purchased", "start starts started begin begins began "
    "begun commence commences commenced", "end ends ended finish finishes finished complete "
    "completes completed", "help helps helped assist assists assisted aid",
    "use uses used utilise utilises utilised utilize utilizes utilized",
    "show shows showed display displays displayed", "choose chooses chose chosen select "
    "selects selected pick picks picked", "need needs needed require requires required",
    "allow allows allowed let lets permit permits permitted",
    "forbid forbids forbidden prohibit prohibits prohibited ban bans banned",
    "shut shuts close closes closed", "decide decides decided determine determines determined",
    "reach reaches reached hit hits", "cut cuts reduce reduces reduced",
    "found founded establish establishes established", "write writes wrote written compose "
    "composes composed", "run runs ran operate operates operated manage manages managed",
    "detect detects detected spot spots spotted identify identifies identified discover "
    "discovers discovered", "offer offers offered provide provides provided supply supplies "
    "supplied", "hold holds held keep keeps kept retain retains retained",
    "move moves moved transfer transfers transferred", "refund refunds refunded repay repays "
    "repaid reimburse reimburses reimbursed", "change changes changed alter alters altered "
    "modify modifies modified amend amends amended", "alteration alterations modification "
    "modifications amendment amendments change changes",
    "ask asks asked request requests requested", "answer answers answered reply replies "
    "replied respond responds responded", "try tries tried attempt attempts attempted",
    "make makes made create creates created produce produces produced",
    "fix fixes fixed repair repairs repaired mend mends mended",
    "think thinks thought believe believes believed", "seem seems seemed appear appears "
    "appeared", "rise rises rose risen increase increases increased grow grows grew grown "
    "climb climbs climbed", "fall falls fell fallen drop drops dropped decrease decreases "
    "decreased", "raise raises raised increase increases increased",
    "remove removes removed delete deletes deleted erase erases erased",
    "save saves saved store stores stored", "damage damages damaged harm harms harmed",
    "hire hires hired employ employs employed recruit recruits recruited",
    "book books booked reserve reserves reserved", "booking bookings reservation "
    "reservations", "leave leaves left depart departs departed",
    "happen happens happened occur occurs occurred", "include includes included contain "
    "contains contained", "connect connects connected link links linked",
    "postpone postpones postponed defer defers deferred delay delays delayed",
    "refuse refuses refused reject rejects rejected", "verify verifies verified confirm "
    "confirms confirmed", "cancel cancels cancelled canceled",
    "talk talks talked speak speaks spoke", "explain explains explained describe describes "
    "described", "finish finished complete completed",
    # nouns
    "fee fees charge charges", "cost costs price prices", "pupil pupils student students",
    "bus buses coach coaches", "shop shops store stores", "bank banks lender lenders",
    "taste tastes flavour flavours flavor flavors", "signal reception",
    "bike bikes bicycle bicycles", "car cars automobile automobiles",
    "doctor doctors physician physicians", "medicine medicines medication medications drug "
    "drugs", "illness illnesses disease diseases sickness", "employee employees worker workers "
    "staff", "customer customers client clients", "house houses home homes",
    "rule rules regulation regulations", "area areas region regions zone zones",
    "mistake mistakes error errors", "photo photos photograph photographs picture pictures",
    "phone phones telephone telephones", "trip trips journey journeys",
    "aim aims goal goals target targets objective objectives", "kid kids child children",
    "flat flats apartment apartments", "film films movie movies",
    "holiday holidays vacation vacations", "lorry lorries truck trucks",
    "timetable timetables schedule schedules", "company companies firm firms",
    "location locations place places", "individual individuals people persons",
    "quantity quantities amount amounts", "info information", "lift lifts elevator elevators",
    "licence licences license licenses", "rubbish trash garbage",
    # adjectives and adverbs
    "big large", "bigger larger", "biggest largest", "small little tiny", "huge enormous vast "
    "massive", "quick fast rapid", "quicker faster", "quickest fastest",
    "quickly fast rapidly swiftly", "usual typical normal", "typically usually generally "
    "normally commonly", "often frequently", "enough sufficient", "whole entire",
    "about approximately roughly around nearly", "almost nearly practically virtually",
    "entirely completely fully totally wholly", "mandatory compulsory obligatory required",
    "optional voluntary", "maybe perhaps possibly", "dim faint", "bad poor",
    "hard difficult", "easy simple", "easier simpler", "near close nearby",
    "wide broad", "wider broader", "short brief", "main principal primary",
    "cheap inexpensive", "expensive costly pricey", "correct accurate",
    "wrong incorrect", "safe secure", "dangerous hazardous risky unsafe", "rich wealthy",
    "modern contemporary", "yearly annual annually",
    "also too", "via through", "until till", "while whereas", "though although",
    "but however yet", "therefore thus hence", "because since as", "if when", "once after",
    "after following", "under below", "over above", "each per every",
    "show shows showed found find finds",
)

#: Set phrases and the one word each is read as.  Longer phrases first.
PHRASES: tuple[tuple[tuple[str, ...], str], ...] = tuple(
    (tuple(phrase.split()), word) for phrase, word in (
        ("free of charge", "free"), ("at no charge", "free"), ("at no cost", "free"),
        ("at no extra cost", "free"), ("free of cost", "free"), ("without charge", "free"),
        ("for free", "free"), ("as well as", "and"), ("in order to", "to"),
        ("a minimum of", "least"), ("no fewer than", "least"), ("no less than", "least"),
        ("at least", "least"), ("a maximum of", "most"), ("no more than", "most"),
        ("at most", "most"), ("more than", "over"), ("less than", "under"),
        ("fewer than", "under"), ("prior to", "before"), ("ahead of", "before"),
        ("due to", "because"), ("owing to", "because"), ("because of", "because"),
        ("in addition", "also"), ("as well", "also"), ("every day", "daily"),
        ("each day", "daily"), ("every week", "weekly"), ("each week", "weekly"),
        ("every month", "monthly"), ("each month", "monthly"), ("every year", "yearly"),
        ("each year", "yearly"), ("a lot of", "many"), ("lots of", "many"),
        ("ask for", "request"),
        ("asks for", "request"), ("asked for", "request"), ("call off", "cancel"),
        ("called off", "cancelled"), ("put off", "postpone"), ("set up", "establish"),
        ("carry out", "perform"), ("carried out", "performed"), ("take place", "happen"),
        ("takes place", "happens"), ("took place", "happened"), ("go up", "rise"),
        ("goes up", "rises"), ("went up", "rose"), ("go down", "fall"),
        ("goes down", "falls"), ("went down", "fell"), ("find out", "discover"),
        ("found out", "discovered"), ("get in touch with", "contact"),
        ("pay back", "repay"), ("paid back", "repaid"), ("pick up", "collect"),
        ("picked up", "collected"), ("turn down", "refuse"), ("turned down", "refused"),
        ("look after", "care"), ("e mail", "email"), ("at once", "immediately"),
        ("straight away", "immediately"), ("right away", "immediately"),
    ))

SYNONYMS: dict[str, frozenset[str]] = {}
for _group in _GROUPS:
    _members = frozenset(_group.split())
    for _word in _members:
        SYNONYMS[_word] = SYNONYMS.get(_word, frozenset()) | _members


def synonyms_of(word: str) -> frozenset[str]:
    """``word`` and the words that say the same (lower case)."""
    return SYNONYMS.get(word, frozenset()) | {word}
