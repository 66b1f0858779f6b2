import { engineSuite } from "./_engine_suite.ts";
import { memoryEnv, realEnv } from "./_env.ts";

engineSuite("memory", memoryEnv).run();
engineSuite("real file system", realEnv).run();
