"""Escalation cues in what a debtor writes: vulnerability, legal threats, abusive language.

The gateway reads each message the bot would answer; when one of these cues is in it, the
conversation goes to a person instead (`escalation_reason`). Matching is on a normalised text
(lower case, accents removed, a letter repeated three or more times for emphasis squeezed to
one: "morreuuu" → "morreu") with word boundaries, in Portuguese, Spanish,
Italian and English at once, because people mix languages and the detected one may be wrong.

Legal cues need the shape of a threat ("vou processar vocês", "I'll sue you", "il mio
avvocato"): "quero processar o pagamento" or "my lawyer friend said a plan is good" are not
threats. A person's bereavement or illness wins over everything else: it is the reason staff
most need to see first.
"""

from __future__ import annotations

import re
import unicodedata

VULNERABILITY = "vulnerability"
LEGAL_THREAT = "legal_threat"
ABUSIVE_LANGUAGE = "abusive_language"

# Close family and people a debtor would mourn, in the four languages.
_KIN = (
    r"(pai|mae|filh[oa]|marido|espos[oa]|irmao|irma|avo|padre|madre|hij[oa]|herman[oa]|"
    r"abuel[oa]|mujer|figli[oa]|marito|moglie|fratello|sorella|nonn[oa]|mamma|papa|"
    r"father|mother|son|daughter|husband|wife|brother|sister|dad|mom|mum|grand(?:ma|pa|mother|father))"
)

_VULNERABILITY = (
    # bereavement
    rf"\b{_KIN}\b.{{0,20}}\b(morreu|moreu|faleceu|faleceo|murio|fallecio|e mort[oa]|"
    r"e decedut[oa]|e mancat[oa]|died|passed away)\b",
    r"\b(faleceu|falecimento|falecid[oa]|fallecio|fallecimiento|fallecid[oa]|deceduto|"
    r"deceduta|decesso|passed away|bereavement|bereaved)\b",
    r"\b(estou de luto|de luto|estoy de luto|sono in lutto|in lutto|velorio|funeral|funerale|"
    r"enterro|sepultamento|entierro)\b",
    r"\bvenut[oa] a mancare\b",
    # illness and treatment
    r"\b(cancer|canser|cancro|tumor|tumore|leucemia|leukemia|quimioterapia|quimio|"
    r"chemioterapia|chemio|chemotherapy|chemo|radioterapia|radiotherapy|dialise|dialisis|"
    r"dialisi|dialysis)\b",
    r"\b(hospital|ospital|hospitalizad[oa]|hospitalised|hospitalized|ospedale|"
    r"ricoverat[oa]|internad[oa]|uti|icu|terapia intensiva|cuidados intensivos)\b",
    r"\b(doente|doenca|enferm[oa]|enfermedad|malat[oa]|malattia|seriously ill|terminally ill)\b",
    # mental health and crisis
    r"\b(depressao|depresao|depressiv[oa]|depresion|deprimid[oa]|depressione|depresso|"
    r"depression|depressed|ansiedade|ansiedad|panic attacks?|crise de panico)\b",
    r"\b(suicidio|suicidarme|suicidar|suicidio|suicide|suicidal|me matar|matarme|"
    r"uccidermi|kill myself|end my life|quero morrer|quiero morir|voglio morire|want to die)\b",
)

_LEGAL_THREAT = (
    # Portuguese
    r"\b(vou|vamos|irei|posso|quero)\s+(te\s+|lhes?\s+)?process(ar|a-?l[oa]s?|ar-?l[oa]s?)\s+"
    r"(voces|vcs|vc|voce|a empresa|essa empresa|esta empresa|o banco|todos)\b",
    r"\b(vou|vamos|irei)\s+(te\s+)?processa-?l[oa]s?\b",
    r"\b(vou|vamos|irei)\s+(entrar|acionar|recorrer|procurar)\s+(na|a|com a)?\s*justica\b",
    r"\b(processo|acao judicial|acao)\s+contra\s+(voces|vcs|a empresa|essa empresa|o banco)\b",
    r"\b(entrar com|abrir)\s+(um\s+)?processo\b",
    r"\b(procon|reclame aqui|consumidor\.?gov|juizado|pequenas causas)\b",
    r"\b(meu|minha)\s+advogad[oa]\b(?!\s+amig)",
    r"\b(chamar|procurar|contratar|falar com)\s+(um|meu|o meu|uma)\s+advogad[oa]\b",
    r"\b(vou|vamos)\s+(te\s+)?denunciar\b",
    r"\b(fazer|registrar|abrir)\s+(uma\s+)?denuncia\b",
    # Spanish
    r"\b(voy a|vamos a|los voy a|las voy a|te voy a|les voy a)\s*demandar(los|las|te|les)?\b",
    r"\b(demandarlos|demandarles|demanda judicial|accion legal|acciones legales|"
    r"ir a juicio|a los tribunales|al juzgado)\b",
    r"\b(mi|un|mis)\s+abogad[oa]s?\b(?!\s+amig)",
    r"\b(voy a|vamos a)\s+(poner|hacer|presentar)\s+(una\s+)?denuncia\b",
    r"\b(voy a|los voy a)\s+denunciar(los|les)?\b",
    r"\b(profeco|oficina del consumidor|defensa del consumidor)\b",
    # Italian
    r"\b(vi|ti)\s+(denuncio|denuncero|querelo|faccio causa)\b",
    r"\b(faro|facciamo|fare)\s+causa\b",
    r"\b(azione legale|azioni legali|vie legali|per vie legali|in tribunale|"
    r"giudice di pace|codacons|adiconsum)\b",
    r"\b(il\s+)?mio\s+avvocato\b(?!\s+amic)",
    r"\b(chiamo|chiamero|sentire|contattare)\s+(il|un|l')\s*avvocato\b",
    r"\b(sporgere|presentare|fare)\s+(una\s+)?denuncia\b",
    # English
    r"\b(i will|i'll|ill|i am going to|i'm going to|im going to|gonna|going to)\s+"
    r"(sue|take you to court|report you)\b",
    r"\bsue\s+(you|u|your company|the company|you guys)\b",
    r"\b(lawsuit|legal action|small claims|take (you|this|it) to court|see you in court|"
    r"cfpb|ombudsman|attorney general)\b",
    r"\bmy\s+(lawyer|attorney|solicitor)s?\b(?!\s+friend)",
    r"\b(call|contact|get|hire)\s+(a|my)\s+(lawyer|attorney|solicitor)\b",
)

_ABUSIVE = (
    # Portuguese
    r"\b(idiota|imbecil|otari[oa]|babaca|cretin[oa]|desgracad[oa]|arrombad[oa]|"
    r"filh[oa] da puta|fdp|vtnc|vai (se )?f[ou]der|vai tomar no cu|vsf|safad[oa]s?|"
    r"ladr(ao|oes)|vagabund[oa]s?)\b",
    # Spanish
    r"\b(estupid[oa]s?|pendej[oa]s?|cabron(es)?|hij[oa] de puta|hdp|gilipollas|malparid[oa]|"
    r"vete a la mierda|chinga tu madre|ladrones|hijos de puta)\b",
    # Italian
    r"\b(imbecille|stronz[oaie]|vaffanculo|fanculo|figli[oa] di puttana|coglion[ei]|"
    r"bastard[oi]|deficiente|ladri)\b",
    # English
    r"\b(idiots?|moron|morons|asshole|assholes|bastards?|fuck (you|off)|f\*+k you|"
    r"son of a bitch|bitch|scumbags?|dickhead|thieves)\b",
)

_PATTERNS = tuple(
    (reason, re.compile("|".join(f"(?:{p})" for p in patterns)))
    for reason, patterns in (
        (VULNERABILITY, _VULNERABILITY),
        (LEGAL_THREAT, _LEGAL_THREAT),
        (ABUSIVE_LANGUAGE, _ABUSIVE),
    )
)
# Three or more of the same letter, as in "morreuuu" or "idiotaaaa".
_REPEATED = re.compile(r"(\w)\1{2,}")
_BLANKS = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower case, no accents, single spaces, emphatic repetitions squeezed to one letter."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.replace("’", "'")
    return _BLANKS.sub(" ", _REPEATED.sub(r"\1", plain)).strip()


def escalation_reason(text: str) -> str | None:
    """Why this message needs a person (one of the three reasons above), or None."""
    normalized = normalize(text)
    for reason, pattern in _PATTERNS:
        if pattern.search(normalized):
            return reason
    return None
