package leviathan.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;
import leviathan.data.CharTokenizer;
import leviathan.data.TextDataset;
import leviathan.data.TokenFile;
import leviathan.data.TokenFiles;
import leviathan.data.Tokens;
import leviathan.distributed.Communicator;

/**
 * The tokens of a run and its two splits (LEVIATHAN.md, "Data"), read in place from a memory-mapped
 * token file (so a corpus of any size costs no heap), each split long enough for one window.
 */
record TrainingData(Path file, long characters, Tokens train, Tokens val) {

    /**
     * The token file of {@code dataFile} (see {@link TokenFiles#openOrPrepare}); with several ranks,
     * rank 0 prepares it and the others open it after a barrier, so it is prepared once.
     */
    static TokenFile open(Path dataFile, CharTokenizer tok, boolean dropUnknown, Communicator comm, Consumer<String> log) throws IOException {
        if (comm.size() == 1) return TokenFiles.openOrPrepare(dataFile, tok, dropUnknown, log);
        TokenFile f = null;
        if (comm.isRoot()) f = TokenFiles.openOrPrepare(dataFile, tok, dropUnknown, log);
        comm.barrier();
        return f != null ? f : TokenFiles.openOrPrepare(dataFile, tok, dropUnknown, s -> { });
    }

    /** The splits of {@code tokens} in {@code tok}'s ids; refuses a text whose splits are shorter than {@code T + 1} tokens. */
    static TrainingData of(Path file, TokenFile tokens, CharTokenizer tok, int T) throws TokenFile.TokenFileException {
        Tokens train = tokens.tokens(TextDataset.Split.TRAIN, tok), val = tokens.tokens(TextDataset.Split.VAL, tok);
        if (train.length() < T + 1 || val.length() < T + 1) {
            throw new IllegalArgumentException(file + " has " + tokens.size() + " characters: too short for block_size " + T
                    + " (each split needs at least block_size + 1 = " + (T + 1) + "); use a longer text or a smaller --block-size");
        }
        return new TrainingData(file, tokens.size(), train, val);
    }
}
