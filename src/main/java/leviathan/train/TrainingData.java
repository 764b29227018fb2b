package leviathan.train;

import java.nio.file.Path;
import leviathan.data.TextDataset;

/** The encoded text of a run and its two splits (LEVIATHAN.md, "Data"), each long enough for one window. */
record TrainingData(Path file, int characters, int[] train, int[] val) {

    /** Splits {@code ids} 90/10; refuses a text whose splits are shorter than {@code T + 1} tokens. */
    static TrainingData of(Path file, int[] ids, int T) {
        TextDataset d = new TextDataset(file.getFileName().toString(), ids);
        int[] train = d.tokens(TextDataset.Split.TRAIN), val = d.tokens(TextDataset.Split.VAL);
        if (train.length < T + 1 || val.length < T + 1) {
            throw new IllegalArgumentException(file + " has " + ids.length + " characters: too short for block_size " + T
                    + " (each split needs at least block_size + 1 = " + (T + 1) + "); use a longer text or a smaller --block-size");
        }
        return new TrainingData(file, ids.length, train, val);
    }
}
