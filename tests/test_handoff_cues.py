"""Escalation cues: what debtors really write, and innocent sentences that must not escalate."""

from __future__ import annotations

import pytest

from backend.handoffs.cues import (
    ABUSIVE_LANGUAGE,
    LEGAL_THREAT,
    VULNERABILITY,
    escalation_reason,
    normalize,
)


@pytest.mark.parametrize(
    "text",
    [
        "Não consigo pagar esse mês, meu pai morreu semana passada",
        "minha mae faleceu e estou sem cabeça pra isso",
        "to internada no hospital, depois eu vejo",
        "estou com cancer fazendo quimio",
        "tenho depressão e não consigo lidar com essas cobranças",
        "meu marido morreuuu",
        "Mi madre falleció hace dos semanas",
        "estoy hospitalizado, no puedo pagar ahora",
        "tengo depresion y no puedo mas",
        "mio padre è morto il mese scorso",
        "sono ricoverata in ospedale",
        "ho un tumore e faccio la chemio",
        "My mom passed away last week",
        "I'm in the hospital right now",
        "I've been dealing with depression since I lost my job",
        "sometimes I just want to die",
    ],
)
def test_illness_bereavement_and_crisis_are_vulnerability(text):
    assert escalation_reason(text) == VULNERABILITY


@pytest.mark.parametrize(
    "text",
    [
        "vou processar vocês!!",
        "Vou processa-los por cobrança indevida",
        "vou entrar na justiça contra essa cobrança",
        "já falei com meu advogado",
        "vou reclamar no Procon",
        "vou fazer uma denúncia",
        "Los voy a demandar",
        "mi abogado se va a comunicar con ustedes",
        "voy a poner una denuncia",
        "vi denuncio tutti",
        "Ne parlerò con il mio avvocato",
        "vi faccio causa",
        "I'm going to sue you",
        "I will sue",
        "you'll be hearing from my lawyer",
        "see you in court",
    ],
)
def test_threats_of_legal_action_are_legal_threats(text):
    assert escalation_reason(text) == LEGAL_THREAT


@pytest.mark.parametrize(
    "text",
    [
        "seu idiota, para de me mandar mensagem",
        "vai tomar no cu",
        "bando de ladrões",
        "son unos pendejos",
        "hijo de puta",
        "vaffanculo",
        "sei proprio uno stronzo",
        "fuck you",
        "you people are idiots",
    ],
)
def test_insults_are_abusive_language(text):
    assert escalation_reason(text) == ABUSIVE_LANGUAGE


@pytest.mark.parametrize(
    "text",
    [
        "quero processar o pagamento",
        "vou processar o pagamento amanhã",
        "my lawyer friend said a plan is good",
        "mi amigo abogado dice que el plan es bueno",
        "quero cancelar o acordo",
        "quero pagar mais depressa",
        "meu filho passou no vestibular",
        "my son passed his exam",
        "sono stanco morto ma voglio pagare",
        "qual é o meu saldo?",
        "quiero un plan de pagos",
        "vorrei rateizzare il debito",
        "can I pay in installments?",
        "I need a deadline extension",
        "the hospitality business is slow",
        "denunciation",
        "sim",
        "1234 14/03/1988",
    ],
)
def test_ordinary_messages_do_not_escalate(text):
    assert escalation_reason(text) is None


def test_normalize_removes_accents_case_and_emphasis():
    assert normalize("  FALECEUUU!  Não ") == "faleceu! nao"
