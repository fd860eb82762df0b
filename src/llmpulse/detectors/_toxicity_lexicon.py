"""The toxicity lexicon's data: weighted terms, phrase patterns and word lists.

:mod:`llmpulse.detectors.toxicity` compiles and applies them; this module is data only.
"""

from __future__ import annotations

# Each line: label weights, optionally "~B" (bonus to insult and toxicity when the word is aimed
# at someone), then ":" and the words.
TERM_TABLE = """
toxicity=4.5 insult=4.5 ~1.5: idiot idiotic moron moronic imbecile cretin dumbass dimwit halfwit
 nitwit numbskull bonehead dunce buffoon retard retarded jackass douchebag douche scumbag
 lowlife degenerate subhuman
toxicity=2.5 insult=2.5 ~2.5: stupid dumb loser pathetic clown jerk creep freak coward fool
 foolish ignorant brainless clueless worthless incompetent disgusting ugly fat pig scum trash
 garbage parasite vermin maggot rat liar hypocrite troll twit dork weirdo psycho lunatic sicko
 pervert bozo airhead oaf simpleton spineless gutless dumbest stupidest ugliest muppet
 tosser pillock
toxicity=1 insult=1 ~3: useless lazy annoying joke failure disgrace embarrassment nobody mess
 waste dummy fake
toxicity=4.5 obscene=5 severe_toxicity=1: fuck fucking fucked fucker fuckers fuckin fck fuk
 fucks effing frigging
toxicity=5 obscene=5 insult=2.5 severe_toxicity=3 ~1.5: motherfucker motherfucking cunt twat
toxicity=3.5 obscene=4 ~2: shit shitty bullshit goddamn crappy
toxicity=3 obscene=3.5 insult=3 ~2: asshole arsehole bitch bastard dickhead prick wanker
 shithead dipshit
toxicity=2 obscene=3 sexual_explicit=2 ~2.5: dick cock pussy
toxicity=3 obscene=3 sexual_explicit=3 insult=2.5 ~2: whore slut skank
toxicity=1.5 obscene=2: crap damn piss pissed bollocks bugger wtf
toxicity=2 obscene=3 ~2: ass arse
toxicity=3 obscene=2.5 sexual_explicit=4.5: blowjob handjob porn porno horny nudes cum cumming
 jizz dildo gangbang deepthroat milf orgasm masturbate masturbating boner tits titties
toxicity=1 sexual_explicit=2.5 obscene=1: boobs naked nude sexy anal erection
toxicity=0.5 sexual_explicit=1.5: sex penis vagina
toxicity=5 identity_attack=5.5 insult=2 severe_toxicity=2.5: nigger nigga faggot fag kike spic
 chink wetback raghead towelhead tranny gook coon beaner paki
"""
_YOU = r"(?:you|u|ya|y'all|yall|you all)"
_YOURE = r"(?:you're|youre|ur|you are|u are|u r|you r|you were)"
_HARM = (r"(?:kill|murder|stab|shoot|strangle|choke|hurt|beat|punch|slap|rape|behead|torture"
         r"|burn|bury|butcher|slaughter|execute|hang|lynch|smash|gut|drown|poison|bash|slit"
         r"|shank|hunt|maim|cripple|kick|break|end|destroy|smack|snap|beat up|fuck up|mess up)"
         r"(?:s|ed|ing)?")
_BODY = (r"(?:family|kids|children|wife|husband|mom|mother|dad|father|sister|brother|face"
         r"|head|neck|throat|legs?|arms?|skull|teeth|house|home|dog|cat|ass|body|life)")
_TARGET = (rf"(?:{_YOU}|him|her|them|your (?:\w+ )?{_BODY})"
           r"(?! (?:a|an|some|over|at)\b)")
_INTENT = (r"(?:i|i'll|ill|i'm|im|imma|i'd|we|we'll|we're|someone|somebody|gonna|going to|will"
           r"|want to|wanna|gotta|shall|plan to|promise to|swear)")
_GROUP = (r"(?:(?:muslim|jewish|black|white|gay|trans|transgender|asian|mexican|arab|indian"
          r"|chinese|african|disabled|queer|lgbt) (?:people|men|women|folks|guys|kids|families)"
          r"|muslims|jews|christians|blacks|whites|gays|lesbians|homosexuals|queers|trannies"
          r"|immigrants|migrants|refugees|mexicans|arabs|asians|africans|indians|hindus|sikhs"
          r"|catholics|latinos|hispanics|gypsies|women|females|men|foreigners|atheists"
          r"|the disabled|you people)")
_VILE = (r"(?:animals|vermin|subhuman|trash|scum|filth|filthy|parasites|rats|cockroaches"
         r"|roaches|terrorists|criminals|thieves|rapists|pedophiles|disgusting|inferior|evil"
         r"|savages|monkeys|apes|dogs|pigs|a disease|a plague|a cancer|cancer|perverts"
         r"|degenerates|worthless|dirty|violent|stupid|dumb|idiots|mentally ill|abominations"
         r"|an abomination|not human|less than human|invaders|leeches|a virus|deviants|freaks)")
PATTERN_TABLE: tuple[tuple[str, str], ...] = (
    ("threat=4 toxicity=3.5 severe_toxicity=1.5",
     rf"\b{_INTENT}\b(?: \S+){{0,4}} {_HARM} {_TARGET}"),
    ("threat=2.5 toxicity=2.5", rf"\b{_HARM} {_TARGET}"),
    ("threat=4 toxicity=3.5", rf"\b{_HARM} the (?:shit|crap|hell|life) out of {_TARGET}"),
    ("threat=4.5 toxicity=5 severe_toxicity=2",
     rf"\b(?:{_YOU}|he|she|they|people like you) (?:should|must|need to|ought to|deserve to"
     r"|better|will|are going to|gonna) (?:just |all |really )?(?:die|drop dead|rot|suffer"
     r"|burn|get cancer|be (?:shot|killed|hanged|hung|executed|put down|gassed|lynched"
     r"|beaten|raped))\b"),
    ("threat=4.5 toxicity=5 severe_toxicity=2",
     rf"\b(?:hope|wish|pray) (?:that )?(?:{_YOU}|he|she|they|your \w+) (?:\S+ )?(?:die|dies"
     r"|get cancer|gets cancer|rot|rots|suffer|suffers|burn|burns|choke|chokes|drown|drowns"
     r"|get (?:hit|raped|shot|killed)|gets (?:hit|raped|shot|killed))\b"
     r"(?! (?:laughing|of laughter|happy|old|peacefully)\b)"),
    ("threat=3 toxicity=5.5 severe_toxicity=3",
     r"\b(?:die in a (?:fire|hole|ditch)|drop dead|go die|kill (?:yourself|urself|yourselves)"
     r"|kys|(?:neck|hang|end|off|unalive) yourself|end your (?:own )?life"
     r"|jump off a (?:bridge|cliff|building))\b"),
    ("threat=5 toxicity=5",
     r"\b(?:i know where (?:you|u) live|watch your back|your days are numbered"
     r"|sleep with one eye open|(?:you're|youre|you are|ur|u r) (?:so )?dead(?: man| meat)?"
     r"(?! (?:right|on|wrong|serious|tired|last)\b)"
     r"|(?:i'll|i will|we'll|we will|im gonna|i'm gonna|i am going to|we are going to)"
     r" (?:find|catch|come after|hunt down) (?:you|u|ya)(?! (?:a|an|the|some|one)\b)"
     r"|(?:you'll|you will|u will) (?:regret|pay for) (?:this|that|it)"
     r"|(?:i'll|i will) make (?:you|u) (?:suffer|pay|bleed|regret))\b"),
    ("threat=5 toxicity=4.5 severe_toxicity=2",
     rf"\b{_INTENT}\b(?: \S+){{0,3}} (?:bomb|shoot up|blow up|burn down|torch) (?:the |your"
     r" |this |that )?(?:school|office|church|mosque|synagogue|temple|house|building|mall"
     r"|concert|workplace|campus)\b"),
    ("toxicity=4.5 insult=2",
     r"\bshut (?:the (?:fuck|f|hell|heck) )?up\b|\bshut your (?:\S+ )?(?:mouth|face|trap"
     r"|piehole)\b|\bstfu\b|\bgtfo\b"),
    ("toxicity=4 insult=2",
     rf"\b(?:nobody|no one|noone) (?:likes|loves|wants|cares about|asked|cares what)"
     rf" {_YOU}\b|\b(?:everyone|everybody|the whole world) (?:hates|despises) {_YOU}\b"),
    ("toxicity=4 insult=2",
     rf"\b(?:hate|despise|loathe) (?:{_YOU}|your (?:guts|face|existence|voice))\b"),
    ("toxicity=4.5 insult=3", rf"\b{_YOU} (?:suck|stink)\b"),
    ("toxicity=4.5 insult=2 obscene=1",
     r"\b(?:fuck|f|screw|frick) (?:you|u|ya|y'all|off|yourself|urself|them|him|her)\b"),
    ("toxicity=4.5 threat=1", r"\b(?:go to|rot in|burn in) hell\b"),
    ("toxicity=5 insult=4.5",
     r"\bwaste of (?:space|oxygen|air|skin|sperm|flesh|a human|a person)\b"),
    ("toxicity=3 insult=3", r"\bpiece of (?:shit|crap|garbage|trash|filth|work)\b"),
    ("toxicity=3.5 insult=1.5 obscene=1",
     r"\b(?:kiss|lick) my (?:ass|arse|butt|boots)\b|\beat (?:shit|a dick|dirt)\b"),
    ("toxicity=3.5 insult=3.5",
     rf"\b(?:do|does|did) {_YOU} even (?:think|read|have a brain)\b|\b(?:grow|get) a"
     r" (?:brain|clue|spine|life)\b|\bbrain ?dead\b|\bsmooth brain(?:ed)?\b"
     r"|\bzero (?:iq|brain cells)\b|\bdumb as (?:a )?(?:rocks?|bricks?|a box of rocks|dirt)\b"),
    ("toxicity=4.5 insult=3",
     rf"\b{_YOURE} (?:nothing|a nobody|a mistake|a disgrace|an embarrassment|a waste"
     rf"|a burden|a failure|a disappointment)\b|\b{_YOU} (?:make me sick|disgust me"
     r"|should be ashamed of yourself)\b"),
    ("toxicity=4.5 insult=2.5 severe_toxicity=1",
     r"\b(?:uninstall|delete) (?:your (?:account|life)|yourself)\b|\bdo (?:us|everyone"
     r"|the world) a favou?r and\b|\b(?:crawl|go) back (?:under|into|to) (?:your|the)"
     rf" (?:rock|hole|cave|bridge|basement)\b|\bbetter (?:off )?without {_YOU}\b"
     rf"|\b(?:no one|nobody) would miss {_YOU}\b"),
    ("identity_attack=6 toxicity=5 insult=2 severe_toxicity=1.5",
     rf"\b{_GROUP} (?:are|r|is) (?:all |just |nothing but |such |a bunch of |literally "
     rf"|basically |the |so |naturally |born |inherently )*{_VILE}\b"),
    ("identity_attack=6 toxicity=5.5 threat=2 severe_toxicity=2",
     rf"\b{_GROUP} (?:should|must|need to|deserve to|ought to|have to|better) (?:all |just "
     r")*(?:die|be killed|be deported|go back|be banned|be exterminated|be wiped out"
     r"|be gassed|burn|be shot|be locked up|be sterilized|be hanged|not be allowed"
     r"|stay in the kitchen|shut up|disappear)\b"),
    ("identity_attack=5 toxicity=4.5",
     r"\bgo back to (?:your |where you |where they |their |the )?(?:own )?(?:country|countries"
     r"|came from|come from|belong|shithole|jungle|desert|cave)\b"),
    ("identity_attack=5 toxicity=4.5",
     rf"\b(?:hate|despise|can't stand|cant stand) (?:all |the |those |these )?{_GROUP}\b"),
    ("identity_attack=5 toxicity=5 threat=3 severe_toxicity=2",
     r"\b(?:kill|deport|gas|exterminate|wipe out|get rid of|shoot|lynch|hang|burn)"
     rf" (?:all |the |every |those |these )*{_GROUP}\b"),
    ("identity_attack=4.5 toxicity=4.5",
     r"\b(?:filthy|dirty|stupid|disgusting|fucking|damn|subhuman|lazy|smelly|greedy|sneaky"
     rf"|thieving|inbred|godless|retarded) {_GROUP}\b"),
    ("identity_attack=5 toxicity=4.5",
     rf"\b{_GROUP} (?:belong in (?:the kitchen|cages|a zoo|zoos|the trash|ovens|camps"
     r"|the gutter)|don't belong (?:here|in this country|in our \w+)|(?:can't|cannot)"
     r" (?:think|drive|lead|code|be trusted)|are too emotional|ruin everything"
     r"|are ruining)\b"),
    ("sexual_explicit=5 toxicity=4 obscene=2 insult=1",
     r"\b(?:suck|lick|blow|touch|grab|ride|sit on) my (?:dick|cock|balls|pussy|tits|face"
     r"|junk|boner)\b"),
    ("sexual_explicit=5 toxicity=4.5 threat=1",
     r"\b(?:want to|wanna|gonna|going to|let me|i'd|i would|i'll|i will|would|to) (?:fuck"
     r"|bang|screw|rape|ride|finger|grope|undress) (?:you|u|her|him|ya|your (?:\w+ )?(?:mom"
     r"|mother|sister|wife|girlfriend|ass|body|pussy|tits))\b"),
    ("sexual_explicit=5 toxicity=3.5",
     r"\b(?:send|show) (?:me )?(?:your |some )?(?:nudes|tits|boobs|pussy|dick|cock"
     r"|naked pics)\b|\bsit on my face\b|\bstrip for me\b|\bspread your legs\b"),
    ("sexual_explicit=3.5 toxicity=2",
     r"\b(?:sex|sleep|hook up|get naked|get in bed) with (?:you|u|your)\b"),
)

# Space-separated word lists that steer how the terms above are weighed.
SECOND = "you u ya ye yall y'all thou you're youre ur your yourself urself"
THIRD = ("he she they him her them guy dude man people person author op poster "
         "everyone everybody who")
COPULA = ("are r is be being been were was look looks sound sounds act acting "
          "seem seems am become became")
NEGATORS = ("not never no don't dont doesn't isn't aren't wasn't weren't won't "
            "wouldn't can't cannot cant didn't hardly neither nor")
FILLERS = ("a an the such so total complete absolute utter little big real really "
           "very just truly huge massive biggest most bunch of piece like and")
HAILS = "hey hi hello yo oi listen look ok okay well oh thanks bye please"
MENTIONS = "call called calls calling word term says said"
NAMES = "dick willy fanny johnson cox randy woody"
