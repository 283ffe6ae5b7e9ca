"""Realtime voice sessions over Azure Web PubSub, speaking the OpenAI Realtime event protocol.

    session_api   create / list / read / end sessions (the HTTP handlers call these)
    triggers      what the Web PubSub trigger functions call: connect, connected, disconnected,
                  message
    protocol      one client event -> state changes + server events
    pipeline      one turn: transcription -> chat (streamed) -> speech, sentence by sentence
    state         reading and writing the session in the store (optimistic, retried)
    events        server event shapes and ids
    settings      the session object: defaults, validation of session.update
    vad           energy-based server VAD on pcm16 frames
    codecs        pcm16 / G.711 u-law / A-law, resampling, WAV
    pubsub        the Web PubSub service SDK: client tokens, send to a connection, close
    audio_models  transcription and speech through the gateway's core dispatch
"""
