package leviathan.train;

import java.nio.file.Path;
import leviathan.data.CharTokenizer;
import leviathan.data.TextDataset;
import leviathan.data.TokenFile;
import leviathan.data.Tokens;

/**
 * The tokens of a run and its two splits (LEVIATHAN.md, "Data"), read in place from a memory-mapped
 * token file (so a corpus of any size costs no heap), each split long enough for one window.
 */
record TrainingData(Path file, long characters, Tokens train, Tokens val) {

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
