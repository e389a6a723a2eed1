"""Embedded name lists: common real forenames and surnames of children in England.

Each pool is a naming tradition, ordered roughly from most to least common, so a Zipf
weight by rank gives realistic frequencies (many Olivers and Smiths, a long tail).
Pools are mixed by ethnicity in synth/names.py. Lists are hand-compiled from published
top-name tables (ONS baby names, surname frequency lists); spellings are as commonly
registered, including a few hyphenated and apostrophe forms that real returns carry.
"""

from __future__ import annotations

# --- British and Irish (also used, with extras, for Caribbean heritage) ---------------------

BRITISH_MALE = """
Oliver George Harry Noah Jack Jacob Leo Oscar Charlie Thomas Henry William Freddie Alfie
Theo Archie Joshua James Lucas Isaac Edward Finley Logan Ethan Mason Teddy Alexander Max
Reggie Joseph Samuel Daniel Harrison Sebastian Tommy Benjamin Dylan Adam Jaxon Toby Elijah
Harley Hugo Albie Rory Louie Jude Frankie Ronnie Louis Jenson Luca Riley Tyler Ellis Arlo
Ezra Jayden Stanley Elliot Bobby Jake Jamie David Michael Kai Matthew Ryan Nathan Callum
Connor Lewis Liam Luke Kieran Jordan Aaron Owen Cameron Reece Bradley Ben Sam Kyle Jay
Zachary Caleb Gabriel Jasper Felix Ralph Rowan Otis Frederick Albert Alfred Sonny Jesse Billy
Harvey Tobias Austin Blake Jackson Leon Ollie Ashton Brandon Charles Christopher Dominic Evan
Fraser Hayden Kayden Lenny Marcus Morgan Nicholas Patrick Robert Reuben Rhys Seth Spencer
Stephen Tristan Vincent Wilfred Zak Andrew Anthony Alex Aidan Bailey Barnaby Beau Cody
Corey Dexter Douglas Elliott Ewan Finn Flynn Francis Gregory Hamish Hunter Jared Jensen Joel
Jonah Jonathan Josh Kian Lachlan Lennon Leighton Lincoln Mark Maxwell Miles Milo Myles
Nathaniel Noel Oakley Parker Peter Philip Rafael Raymond Richard Rocco Ross Rufus Scott
Shane Simon Solomon Taylor Tate Timothy Travis Troy Victor Warren Wesley Xavier Zac Zane
Mateo Roman Carter Chester Cooper Eddie Eli Ernie Fletcher Grayson Hudson Jax Jimmy Kit
Leonardo Monty Nico Percy Preston Ronan Ted Tom Vinnie Wilbur Woody Brody Cole Curtis Dale
Declan Dennis Grant Ian Jason Kevin Lee Martin Neil Paul Shaun Steven Terry Malachi Tyrese
Isaiah Josiah Jaylen Kairo Zion Ashley Brooklyn Cian Conor Darragh Eoin Oisin Ruairi Sean
Aiden Alistair Angus Calum Duncan Euan Gethin Iwan Dafydd Cai Harri Macsen Tomos Arthur
Albie-Jay Tommy-Lee Charlie-Ray
"""

BRITISH_FEMALE = """
Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Florence Emily
Ella Poppy Evie Elsie Charlotte Evelyn Sienna Sofia Daisy Phoebe Sophie Alice Harper Matilda
Isabelle Ruby Millie Jessica Chloe Emma Hannah Lucy Ellie Holly Megan Amy Lauren Katie
Georgia Abigail Bethany Caitlin Eleanor Erin Imogen Jasmine Leah Lola Maisie Molly Niamh
Paige Rebecca Scarlett Summer Zara Layla Hallie Mila Aurora Violet Maya Eliza Esme Harriet
Iris Lottie Luna Margot Orla Penelope Rose Thea Beatrice Bonnie Ada Arabella Clara Darcie
Edith Elizabeth Eva Frankie Gracie Hazel Heidi Hope Jade Josephine Lacey Lara Lexi Lilly
Madison Maria Martha Mollie Nancy Ophelia Pippa Quinn Robyn Rosa Sara Sarah Sadie Skye
Stella Tilly Victoria Zoe Abbie Aimee Alexandra Alisha Amber Anna Annabelle April Aria Ayla
Bella Bethan Brooke Cara Carys Casey Cerys Charley Chelsea Courtney Danielle Demi Eden Elise
Ellen Eloise Emilia Faith Faye Felicity Francesca Gabriella Gemma Georgina Hollie India
Isobel Jennifer Jodie Kayla Keira Laura Leila Libby Lydia Macie Madeleine Melissa Naomi
Natasha Nicole Olive Samantha Savannah Serena Shannon Tegan Tia Toni Vanessa Yasmin Aaliyah
Maddison Nevaeh Elodie Delilah Nova Mabel Myla Mae Maeve Lyla Edie Georgie Harmony Indie
Jemima Kiara Lucia Marnie Nellie Peggy Primrose Remi Rosalie Sylvie Winter Wren Alba Alexa
Amara Amelie Annie Ariana Blossom Cleo Connie Darcey Ember Etta Evangeline Fearne Hattie
Kitty Lyra Maggie Minnie Nina Ottilie Pearl Tallulah Betsy Lena Sasha Tiana Kirsty Stacey
Hayley Leanne Shanice Jada Nia Amani Imani Aoife Ciara Roisin Saoirse Siobhan Sinead Caoimhe
Eilidh Isla-Rose Lily-Mae Ruby-Mae Mary-Jane Ffion Seren Megan-Rose Cariad Nansi
"""

BRITISH_SURNAMES = """
Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson
Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Jackson Wood
Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James
Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter
Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Marshall Anderson Simpson
Ellis Adams Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Hunt Campbell Matthews
Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins
Murray Dixon Harvey Graham Pearson Fletcher Walsh Gibson Howard Andrews Stewart Elliott
Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley
Spencer Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis
Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn
Woods Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson Newton Oliver Reed
Kennedy Williamson Bird Gardner Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton
Burns Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton
McDonald Yates Hodgson Robson Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy
Chambers O'Neill Griffin Sharp Hardy Wheeler Potter Osborne Johnston Gordon Doyle Wallace
George Jordan Hutchinson Rowe Burke May Pritchard Gilbert Willis Higgins Read Miles
Stevenson Stephenson Hammond Arnold Buckley Walters Hewitt Barber Nelson Slater Austin
Sullivan Whitehead Mann Frost Lambert Stephens Blake Lynch Goodwin Barton Woodward Thomson
Cunningham Quinn Barnett Baxter Clayton Nash Greenwood Jennings Holt Kemp Poole Gallagher
Bond Stokes Tucker Davidson Fowler Heath Norman Middleton Lees Banks French Jarvis Garner
Carpenter Dale Steele Pugh Lawson Hancock Tomlinson Vincent Rhodes Howell Lamb Kent Sanders
Howe Charlton Sharpe Brennan Hanson Norris Fleming Bowen Dyer Pollard Hodges Randall Daly
Pickering Farrell Wade Moran Rowley Dobson Swift Herbert Forster Bryant Hale Hicks Kirby
Lord Mellor Metcalfe Morton Naylor Peters Preston Ramsey Rich Sheppard Summers Thornton
Townsend Vaughan Walsh-Taylor Warner Weston Whittaker Wilkins Winter Wyatt Allan Bolton
Bowden Brady Buckley-Smith Cartwright Coates Connolly Conway Crawford Dennis Douglas
Emery Farmer Fitzgerald Gough Hargreaves Hilton Houghton Hurst Ingram Jacobs Kaye Kerr
Knowles Lucas Lyons Marsden McKenzie Moody Moon Nolan Parkinson Pratt Rowlands Savage
Schofield Sims Skinner Stanley Storey Sykes Tait Tyler Wall Walters-Jones Whitaker Yeates
Pascoe Penrose Trevithick Tremayne Pengelly Nancarrow Rowse Trewin Hocking Jago
"""

# --- Pakistani, Bangladeshi and other South Asian Muslim families ---------------------------

SOUTH_ASIAN_MUSLIM_MALE = """
Muhammad Mohammed Ibrahim Yusuf Ayaan Zayn Hamza Ali Abdullah Musa Ismail Adam Zakariya
Haris Rayyan Idris Umar Omar Bilal Hassan Usman Imran Faisal Arham Ahmad Mikaeel Saad Shayan
Amaan Zain Rehan Aayan Hussain Sami Tariq Junaid Kamran Rizwan Sajid Aariz Eesa Yahya Raheem
Shahid Arif Mohammad Abdul Rahim Sulaiman Ayub Luqman Dawud Harun Nabeel Rafay Azaan Haider
"""

SOUTH_ASIAN_MUSLIM_FEMALE = """
Maryam Aisha Fatima Zainab Hafsa Inaaya Amira Khadija Safa Anaya Sumaya Hana Aleena Eshal
Hiba Iqra Mahnoor Noor Sana Ayesha Alisha Zara Haniya Jannat Areeba Humaira Nadia Samira
Zoya Amina Mariam Safiya Nusrat Sadia Tasnim Fariha Sumaiya Mehreen Ruqayyah Manha Aiza
Hajra Rumaisa Anabia Minahil Zunaira Laiba Muskan Tahmina Rukhsar Sabiha Yusra Inaya Asiya
"""

SOUTH_ASIAN_MUSLIM_SURNAMES = """
Khan Ahmed Hussain Ali Begum Akhtar Iqbal Mahmood Rahman Islam Uddin Miah Hossain Chowdhury
Malik Shah Aslam Bibi Butt Choudhry Rashid Mirza Riaz Javed Anwar Aziz Bashir Hanif Hassan
Karim Latif Mahmud Nawaz Qureshi Rafiq Raza Sadiq Saleem Sharif Siddiqui Sultana Yousaf
Zaman Alam Haque Hoque Kabir Munir Parveen Rehman Tariq Younis Ashraf Arshad Ahmad Abbas
Sheikh Mughal Dar Kayani Chaudhry Akram Saeed Asghar Ullah Sarwar Hamid Shafiq Zafar Nazir
"""

# --- Indian (Gujarati, Punjabi Sikh and Hindu, South Indian) --------------------------------

INDIAN_MALE = """
Arjun Aarav Rohan Dev Krish Vihaan Arav Ishaan Aryan Jai Rahul Harjot Gurpreet Amrit
Harvinder Jaskaran Karan Kabir Manav Neel Nikhil Pranav Raj Ravi Reyansh Rishi Sahil Samar
Sanjay Shiv Tejas Varun Veer Vikram Yash Aditya Ajay Anand Ansh Atharv Deepak Hari Jaspreet
Kiran Manpreet Naveen Om Parth Rajan Sai Arnav Dhruv Gurveer Harnoor Jasraj Kush Rehaan
"""

INDIAN_FEMALE = """
Anaya Priya Diya Aanya Riya Simran Kiran Navneet Ananya Amrita Anika Avni Diksha Gurleen
Harleen Ishani Isha Jasleen Jaspreet Kavya Khushi Leela Manpreet Meera Mira Nisha Pooja
Prisha Rani Saanvi Sahana Sanjana Shreya Sita Sonia Tara Trisha Uma Vanya Aarohi Pari Navya
Myra Amaira Harnoor Ishika Jasmeet Kirandeep Mehak Nimrat Reet Siya Tanvi
"""

INDIAN_SURNAMES = """
Patel Singh Kaur Sharma Shah Gill Sandhu Kumar Mistry Parmar Sidhu Dhillon Bains Chauhan
Joshi Mehta Gupta Bhatti Grewal Johal Sohal Atwal Rai Virdi Mann Dhaliwal Sagoo Kang Rana
Thakrar Lad Solanki Pandya Desai Modi Naik Nair Pillai Reddy Rao Iyer Menon Das Bose Verma
Mehra Kapoor Malhotra Chopra Bhatia Anand Sodha Vaghela Makwana Chavda Jadeja Thakkar
Parekh Bhogal Chahal Sahota Hayer Basra Purewal Sangha
"""

# --- Other Asian: Nepali (including Gurkha families), Sri Lankan Tamil, Filipino ------------

OTHER_ASIAN_MALE = """
Aayush Bibek Prabin Sujan Roshan Anish Bishal Kiran Arun Sanjeev Kajan Nithin Abinash Sagar
Suraj Rajesh Dinesh Niroshan Thivyan Janarthan Mathusan Kishan Gabriel Joshua Miguel Angelo
Rafael Nathan Christian John Paolo Adrian
"""

OTHER_ASIAN_FEMALE = """
Anisha Sabina Srijana Pooja Sarita Asmita Anjali Sunita Prasansa Rojina Abinaya Tharshika
Kavitha Harini Janani Nila Sharmila Aarani Mary Angel Kristine Jasmine Nicole Bea Althea
Princess Hannah Mika
"""

OTHER_ASIAN_SURNAMES = """
Gurung Rai Limbu Tamang Thapa Magar Shrestha Sherpa Pun Ghale Subba Sivakumar
Kanagaratnam Selvarajah Thevarajah Rajendran Balasubramaniam Fernando Perera Jayasinghe
Kumarasamy Nadarajah Reyes Santos Cruz Bautista Mendoza Garcia Villanueva Ramos Aquino
Dizon
"""

# --- Black African (West African, Somali, East and Southern African) ------------------------

AFRICAN_MALE = """
Daniel David Samuel Joshua Emmanuel Michael Mohamed Abdi Abdirahman Tobi Oluwaseun Chidi
Kwame Kofi Ayomide Tobiloba Caleb Isaac Elijah Joel Nathaniel Jeremiah Marvellous Divine
Ayodele Femi Tunde Olamide Chinedu Ikenna Obinna Yaw Kojo Kwabena Abdullahi Ahmed Hassan
Yusuf Ibrahim Mustafa Said Hamza Osman Jamal Moses Gideon Micah Ezekiel Victor Precious
Israel Jesse Timothy Praise Favour Mubarak Zakaria Abdikarim Liban Tawanda Tinashe Thabo
"""

AFRICAN_FEMALE = """
Grace Favour Blessing Precious Esther Deborah Hodan Amina Fatuma Zara Adaeze Chioma
Temitope Ayo Ruth Mercy Praise Faith Comfort Abigail Victoria Rebecca Hannah Naomi Sarah
Abena Akosua Ama Efua Adwoa Nana Ngozi Nneka Ifeoma Chiamaka Ifeoluwa Oluwatoyin Folake
Funmilayo Hibaaq Sagal Ayaan Ikram Ifrah Nasra Sahra Idil Fardowsa Anointing Goodness
Tiwalade Darasimi Munachi Nyasha Chipo Thandiwe Zanele Wambui Achieng
"""

AFRICAN_SURNAMES = """
Mohamed Ahmed Hassan Ali Abdi Osman Okafor Adeyemi Okonkwo Mensah Owusu Asante Boateng
Adebayo Nwosu Eze Ogunleye Afolabi Bello Yusuf Ibrahim Kamara Conteh Sesay Bangura Koroma
Jalloh Diallo Traore Ndlovu Moyo Banda Phiri Mwangi Ochieng Otieno Kariuki Odhiambo Adeleke
Ogunbiyi Akinola Balogun Olawale Adeniyi Obi Nwachukwu Okeke Chukwu Agyeman Appiah Ofori
Darko Amoah Addo Farah Warsame Jama Aden Egal Nur Dahir Omar Abdullahi Oladipo Oyewole
Adewale Akande Olatunji Nkemelu Mutasa Chikwanha Sibanda Dube Ncube Tesfaye Haile Bekele
"""

# --- White Other and Gypsy/Roma (Polish, Romanian, Lithuanian, Portuguese, ...) -------------

EUROPEAN_MALE = """
Jakub Filip Szymon Kacper Antoni Mateusz Oliwer Andrei Luca Darius Matei Ionut Lukas
Domantas Matas Nikola Luka Aleksander Mikolaj Wiktor Piotr Pawel Tomasz Adrian Alexandru
David Gabriel Mihai Stefan Bogdan Vlad Nojus Dominykas Kajus Rokas Arnas Emils Roberts
Rodrigo Tiago Joao Diogo Francisco Santiago Mateo Marco Alessandro Lorenzo Giorgos Dimitris
Ivan Georgi Petar Dmitri Artem Maksym Kristian Emil Erik Hugo Mustafa Emre Yusuf Kerem Eren
Arda Efe Ilir Arben Endrit Florian Kevin Denis Cristian Razvan
"""

EUROPEAN_FEMALE = """
Zuzanna Julia Maja Zofia Hanna Lena Amelia Maria Ioana Sofia Daria Emilija Gabija Alexandra
Natalia Wiktoria Oliwia Nikola Karolina Weronika Aleksandra Antonina Andreea Elena Bianca
Denisa Ana Camelia Alina Ugne Kamile Austeja Ieva Viktorija Beatriz Leonor Matilde Ines
Carolina Giulia Chiara Francesca Anastasia Eleni Katerina Mia Ivana Petra Eva Klara Elif
Zeynep Ecem Defne Ela Esila Arta Era Dua Sara Larisa Roxana Maria-Luiza Ana-Maria
"""

EUROPEAN_SURNAMES = """
Nowak Kowalski Wisniewski Wojcik Kowalczyk Kaminski Lewandowski Zielinski Szymanski Wozniak
Dabrowski Kozlowski Jankowski Mazur Kwiatkowski Krawczyk Piotrowski Grabowski Popescu
Ionescu Popa Stan Dumitru Stoica Gheorghe Rusu Munteanu Constantin Kazlauskas Petrauskas
Jankauskas Stankevicius Vasiliauskas Zukauskas Ozols Berzins Kalnins Petrov Ivanov Georgiev
Dimitrov Horvat Kovac Novak Silva Santos Ferreira Pereira Costa Oliveira Rodrigues Martins
Sousa Rossi Russo Ferrari Esposito Bianchi Garcia Fernandez Lopez Martinez Gonzalez
Papadopoulos Nagy Toth Szabo Horvath Kovacs Yilmaz Kaya Demir Sahin Celik Ozturk Balogh
Lakatos Krasniqi Berisha Gashi Hoxha Shehu Dragomir Marin Lungu Nistor Badea
"""

# --- Chinese (many families give English forenames) -----------------------------------------

CHINESE_MALE = """
Jason Kevin Ryan Daniel Ethan Lucas Wei Jun Hao Yu Zhi Ming Jia Hong Kai Leo Oscar Aiden
Marcus Tony Alan Henry Jayden Justin Ho-Yin Chun Kwan Tsz Haoran Yichen Zihan Boyang
"""

CHINESE_FEMALE = """
Alice Chloe Emily Grace Jessica Amy Sophie Mia Lily Xin Yan Ying Hui Mei Li Jing Xiao
Ling Tiffany Vivian Angel Crystal Joyce Karen Michelle Natalie Rachel Stephanie Winnie
Yuxuan Zixuan Ka-Yan Wing Hoi
"""

CHINESE_SURNAMES = """
Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Lin Wong Chan Cheung Lee Lam Ng Ho Leung
Tang Yip Lau Tsang Chow Kwok Mak Fung Xu Sun Ma Zhu Hu Guo He Gao Luo Zheng Liang Xie Song
"""

# --- Arab, Kurdish, Iranian and Afghan families ---------------------------------------------

MIDDLE_EASTERN_MALE = """
Mohammed Ahmad Omar Yusuf Ali Hassan Mustafa Karim Amir Reza Hussein Khalid Mahmoud Sami
Tariq Ziad Youssef Adam Ibrahim Abdullah Hamza Kareem Nabil Rami Salim Walid Zaid Aras Dilan
Karwan Rebin Sardar Arash Dariush Kian Milad Parsa Sina Farhad Jawad Mansour Faris Elias
Ayman Bashar Hadi Jad Majid Nasser Ahmed Mohamad Sohrab Zabihullah Mirwais
"""

MIDDLE_EASTERN_FEMALE = """
Maryam Fatima Zahra Noor Sara Layla Yasmin Hiba Rania Lina Dana Hala Mariam Nour Reem Salma
Jana Aya Leen Lana Malak Rahaf Shahad Zeina Shilan Roza Parisa Shirin Niloufar Nazanin Mina
Darya Asma Huda Samira Amal Ghazal Sahar Tala Yara Razan Bayan Rojin Hevin Madina Frishta
"""

MIDDLE_EASTERN_SURNAMES = """
Ahmadi Hussaini Karimi Rahimi Hosseini Mohammadi Saleh Hassan Abdullah Mahmoud Ibrahim Aziz
Rashid Hamid Mansour Haddad Khalil Nasser Saeed Salem Abbas Jaber Kareem Najjar Omar Qasim
Rasool Sabri Taha Younes Zaki Aslan Barzani Jaff Rostami Sadeghi Jafari Moradi Rezaei
Hashemi Amini Ebrahimi Azizi Popal Stanekzai Noori Wardak Safi Rahmani Sultani Al-Sayed
Al-Hashimi Al-Amin El-Masri Darwish Hamdan Khoury
"""


def split(text: str) -> tuple[str, ...]:
    """Whitespace-separated names, first occurrence kept (a list may repeat a common name)."""
    seen: dict[str, None] = {}
    for name in text.split():
        seen.setdefault(name, None)
    return tuple(seen)


POOLS: dict[str, dict[str, tuple[str, ...]]] = {
    "british": {
        "M": split(BRITISH_MALE),
        "F": split(BRITISH_FEMALE),
        "surname": split(BRITISH_SURNAMES),
    },
    "south_asian_muslim": {
        "M": split(SOUTH_ASIAN_MUSLIM_MALE),
        "F": split(SOUTH_ASIAN_MUSLIM_FEMALE),
        "surname": split(SOUTH_ASIAN_MUSLIM_SURNAMES),
    },
    "indian": {
        "M": split(INDIAN_MALE),
        "F": split(INDIAN_FEMALE),
        "surname": split(INDIAN_SURNAMES),
    },
    "other_asian": {
        "M": split(OTHER_ASIAN_MALE),
        "F": split(OTHER_ASIAN_FEMALE),
        "surname": split(OTHER_ASIAN_SURNAMES),
    },
    "african": {
        "M": split(AFRICAN_MALE),
        "F": split(AFRICAN_FEMALE),
        "surname": split(AFRICAN_SURNAMES),
    },
    "european": {
        "M": split(EUROPEAN_MALE),
        "F": split(EUROPEAN_FEMALE),
        "surname": split(EUROPEAN_SURNAMES),
    },
    "chinese": {
        "M": split(CHINESE_MALE),
        "F": split(CHINESE_FEMALE),
        "surname": split(CHINESE_SURNAMES),
    },
    "middle_eastern": {
        "M": split(MIDDLE_EASTERN_MALE),
        "F": split(MIDDLE_EASTERN_FEMALE),
        "surname": split(MIDDLE_EASTERN_SURNAMES),
    },
}
